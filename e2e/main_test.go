package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/promserver"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

var (
	env     *cluster.Cluster
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	ctrlRun *controllerRun
	logPath string
	// ctrlMetrics is the registry of the controller running in this process (a new one
	// each start).
	ctrlMetrics *prometheus.Registry
	// prom is a real Prometheus scraping the stand-ins of tests that register them; nil
	// when the binary is missing (make test installs it).
	prom *promserver.Server
)

// controllerRun is the sluice controller running in this process.
type controllerRun struct {
	cancel context.CancelFunc
	done   chan error
}

// startController runs sluice against the test API server until stopController.
func startController() error {
	ctx, cancel := context.WithCancel(context.Background())
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		cancel()
		return err
	}
	done := make(chan error, 1)
	ctrlMetrics = prometheus.NewRegistry()
	go func() {
		defer f.Close()
		done <- manager.Run(ctx, env.Config, manager.Options{
			MetricsAddr: "0", ProbeAddr: "0", LogFormat: "json", Workers: 4, PrometheusURL: promURL(),
			ScrapeTimeout: 300 * time.Millisecond, LogOutput: f, Registerer: ctrlMetrics, AllowRestart: true,
		})
	}()
	ctrlRun = &controllerRun{cancel: cancel, done: done}
	return nil
}

func promURL() string {
	if prom == nil {
		return ""
	}
	return prom.URL
}

// stopController stops the controller and waits for it to exit.
func stopController() error {
	ctrlRun.cancel()
	select {
	case err := <-ctrlRun.done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("controller did not stop within 30s")
	}
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("e2e: KUBEBUILDER_ASSETS not set; run `make e2e` (builds the API server binaries)")
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	if env, err = cluster.Start(ctx); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if kube, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	if dyn, err = dynamic.NewForConfig(env.Config); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	promDir, err := os.MkdirTemp("", "sluice-e2e-prometheus-")
	if err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	defer os.RemoveAll(promDir)
	if prom, err = promserver.Start(context.Background(), promDir); err != nil {
		fmt.Println("e2e: no Prometheus, its tests will fail or skip:", err)
		prom = nil
	} else {
		defer prom.Stop()
	}
	logPath = filepath.Join(os.TempDir(), fmt.Sprintf("sluice-e2e-controller-%d.log", os.Getpid()))
	fmt.Println("e2e: controller log at", logPath)
	if err := startController(); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	code := m.Run()
	if err := stopController(); err != nil {
		fmt.Println("e2e: stopping controller:", err)
	}
	if code != 0 {
		fmt.Println("e2e: failed; controller log kept at", logPath)
	} else {
		_ = os.Remove(logPath)
	}
	return code
}
