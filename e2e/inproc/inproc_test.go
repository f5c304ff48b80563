package inproc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// TestEarlyFailureSurfaces checks that a controller that cannot start exits on its own
// and that Stop returns manager.Run's error, and that an unusable log path fails Start.
// No API server is needed: each case fails before the manager talks to one.
func TestEarlyFailureSurfaces(t *testing.T) {
	// Nothing listens on port 1: a case that reached the API server would not pass.
	cfg := &rest.Config{Host: "https://127.0.0.1:1"}
	tests := map[string]struct {
		opts     manager.Options
		logPath  func(dir string) string
		startErr string // substring of Start's error; "" = Start succeeds
		stopErr  string // substring of Stop's error
	}{
		"bad log format": {
			opts: manager.Options{LogFormat: "xml"}, stopErr: `--log-format "xml"`,
		},
		"two data-plane confirmations": {
			opts:    manager.Options{ConfigDumpPort: 15000, IstiodDebugURLs: []string{"http://127.0.0.1:15014"}},
			stopErr: "--config-dump-port and --istiod-debug-url both confirm the data plane",
		},
		"log in a missing directory": {
			logPath:  func(dir string) string { return filepath.Join(dir, "missing", "controller.log") },
			startErr: "opening the controller log",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			logPath := filepath.Join(dir, "controller.log")
			if tc.logPath != nil {
				logPath = tc.logPath(dir)
			}
			c, err := Start(context.Background(), cfg, tc.opts, logPath)
			if tc.startErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.startErr) {
					t.Fatalf("Start: got error %v, want one containing %q", err, tc.startErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				_ = c.Stop()
				t.Fatal("the controller did not exit on its own")
			}
			for range 2 { // Stop may be called again and says the same
				if err := c.Stop(); err == nil || !strings.Contains(err.Error(), tc.stopErr) {
					t.Fatalf("Stop: got error %v, want one containing %q", err, tc.stopErr)
				}
			}
		})
	}
}

// TestStartStopRestart runs the controller against a real API server, reads its metrics
// registry, stops it, starts it again in the same process (as e2e's restart test does),
// and ends the second run through Start's ctx.
func TestStartStopRestart(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS not set (run via make test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := cluster.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	logPath := filepath.Join(t.TempDir(), "controller.log")

	first, err := Start(ctx, env.Config, manager.Options{}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, logPath, 1)
	mfs, err := first.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "sluice_tick_duration_seconds"
	}
	if !found {
		t.Fatalf("sluice_tick_duration_seconds is not in the run's registry (%d families)", len(mfs))
	}
	if err := first.Stop(); err != nil {
		t.Fatalf("stopping the first run: %v", err)
	}

	runCtx, endRun := context.WithCancel(ctx)
	second, err := Start(runCtx, env.Config, manager.Options{}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	if second.Metrics == first.Metrics {
		t.Fatal("the second run reuses the first run's registry")
	}
	waitLog(t, logPath, 2) // appended to the same log
	endRun()
	select {
	case <-second.Done():
	case <-time.After(StopTimeout):
		t.Fatal("the controller did not exit when Start's ctx ended")
	}
	if err := second.Stop(); err != nil {
		t.Fatalf("stopping the second run: %v", err)
	}
}

// waitLog waits until the log at path shows n runs whose workers started.
func waitLog(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		data, _ := os.ReadFile(path)
		if strings.Count(string(data), `"Starting workers"`) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 1m the log shows fewer than %d started runs:\n%s", n, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
