package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/e2e/promserver"
	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/pkg/alerts"
	"github.com/sluicedev/sluice/pkg/controller"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

var (
	env  *cluster.Cluster
	kube kubernetes.Interface
	dyn  dynamic.Interface
	// clients are env's clients, for e2e/scenario.
	clients scenario.Env
	logPath string
	// ctrlRun is the sluice controller running in this process (a new one each start,
	// with a new metrics registry).
	ctrlRun *inproc.Controller
	// prom is a real Prometheus scraping the stand-ins of tests that register them; nil
	// when the binary is missing (make test installs it).
	prom *promserver.Server
	// receiver is the controller's Alertmanager receiver: its URL, and the file holding
	// the bearer token it expects.
	receiverURL, receiverToken string
	receiverAddr               string
)

// notifyNamespace holds the Secrets of the notification sinks the tests configure.
const notifyNamespace = "sluice-e2e-notify"

// startController runs sluice against the test API server until stopController.
func startController() error {
	c, err := inproc.Start(context.Background(), env.Config, manager.Options{PrometheusURL: promURL(),
		Alerts: manager.AlertOptions{BindAddress: receiverAddr, Credentials: alerts.Credentials{TokenFile: receiverToken}},
		Notify: controller.NotifyConfig{Namespace: notifyNamespace}, ClusterName: "e2e"}, logPath)
	if err != nil {
		return err
	}
	ctrlRun = c
	return nil
}

// stopController stops the controller and waits for it to exit.
func stopController() error { return ctrlRun.Stop() }

func promURL() string {
	if prom == nil {
		return ""
	}
	return prom.URL
}

// setUpReceiver picks the receiver's loopback address and writes its token into dir.
func setUpReceiver(dir string) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("picking a port for the alert receiver: %w", err)
	}
	receiverAddr = l.Addr().String()
	_ = l.Close()
	receiverURL = "http://" + receiverAddr + alerts.Path
	receiverToken = filepath.Join(dir, "alert-token")
	return os.WriteFile(receiverToken, []byte("e2e-alert-token-4f1c"), 0o600)
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
	if env, err = cluster.StartWith(ctx, cluster.Options{Aggregation: true}); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if clients, err = scenario.NewEnv(env.Client, env.Config); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	kube, dyn = clients.Kube, clients.Dyn
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
	if err := setUpReceiver(promDir); err != nil {
		fmt.Println("e2e:", err)
		return 1
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
