package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

var (
	env  *cluster.Cluster
	kube kubernetes.Interface
	dyn  dynamic.Interface
	// clients are env's clients, for e2e/scenario.
	clients scenario.Env
	// ctrlRun is the sluice controller running in this process.
	ctrlRun *inproc.Controller
)

// scrapeTimeout is the controller's scrape timeout in these tests (inproc's default).
const scrapeTimeout = 300 * time.Millisecond

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("faults: KUBEBUILDER_ASSETS not set; run `make e2e` (builds the API server binaries)")
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	if env, err = cluster.Start(ctx); err != nil {
		fmt.Println("faults:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if clients, err = scenario.NewEnv(env.Client, env.Config); err != nil {
		fmt.Println("faults:", err)
		return 1
	}
	kube, dyn = clients.Kube, clients.Dyn
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("sluice-faults-controller-%d.log", os.Getpid()))
	fmt.Println("faults: controller log at", logPath)
	if ctrlRun, err = inproc.Start(context.Background(), env.Config, manager.Options{ScrapeTimeout: scrapeTimeout, ClusterName: "faults"}, logPath); err != nil {
		fmt.Println("faults:", err)
		return 1
	}
	code := m.Run()
	if err := ctrlRun.Stop(); err != nil {
		fmt.Println("faults: stopping the controller:", err)
		code = max(code, 1)
	}
	if code != 0 {
		fmt.Println("faults: failed; controller log kept at", logPath)
	} else {
		_ = os.Remove(logPath)
	}
	return code
}
