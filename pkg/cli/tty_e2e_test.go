package cli

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// TestStatusWatchTerminalE2E runs status --watch with stdout on a terminal (a pty, as
// kubectl hands its own to the plugin): it redraws the live view in place — the step
// ladder with the current step, the window, the decisions — on every change.
func TestStatusWatchTerminalE2E(t *testing.T) {
	needCluster(t)
	st := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 1, 5)
	createService(t, "tty-watch", map[string]string{spec.AnnCanary: "v2"}, &st)
	cmd := exec.Command(env.kubectl, withAdmin([]string{"status", "tty-watch", "--watch"})...)
	cmd.Env = append(env.environ, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var mu sync.Mutex
	var screen strings.Builder
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(screen.String(), s) }
	}
	eventually(t, "the first frame", seen("[5%] → 25% → 50% → 100%"))
	step2 := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 2, 25)
	step2.LastDecision = &sluicev1alpha1.Decision{Action: "Advance", Reason: "StepComplete", Message: "step 1 held 30s"}
	step2.Window = &sluicev1alpha1.WindowStatus{Seconds: "10", Canary: &sluicev1alpha1.SubsetWindow{Subset: "v2", Requests: 80, Errors: 1, ErrorRate: "0.0125", P50Millis: "12", P99Millis: "48", Pods: 2}}
	setStatus(t, "tty-watch", step2)
	eventually(t, "the redrawn frame", seen("5% → [25%] → 50% → 100%"))
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	if err != nil {
		t.Errorf("status --watch ended with %v after Ctrl-C", err)
	}
	if n := strings.Count(out, clearScreen); n < 2 {
		t.Errorf("%d redraws (clear-screen sequences), want at least 2:\n%q", n, out)
	}
	last := out[strings.LastIndex(out, clearScreen):]
	for _, want := range []string{"canary weight 25%, step 2/4", "1.25%", "48ms", "Decisions (newest first):", "StepComplete", "step 1 held 30s"} {
		if !strings.Contains(last, want) {
			t.Errorf("the last frame lacks %q:\n%s", want, last)
		}
	}
	_, _ = io.Copy(io.Discard, tty)
}
