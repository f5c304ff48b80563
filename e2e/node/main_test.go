package node_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/node"
)

// The running node and its clients, inside the namespaces; nil outside them.
var (
	stack   *node.Stack
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	crc     client.Client
	workDir string
	// installed is set once TestInstall has sluice running; the tests after it need it.
	installed bool
)

// TestMain runs the suite on a real node when SLUICE_NODE=1 (make node): first outside,
// where it builds the images and starts itself again inside new namespaces; then
// inside, where it starts the node, runs the tests and stops the node. Without
// SLUICE_NODE the tests skip.
func TestMain(m *testing.M) {
	if os.Getenv("SLUICE_NODE") != "1" {
		os.Exit(m.Run())
	}
	if dir, inner := node.Inner(); inner {
		os.Exit(inside(m, dir))
	}
	os.Exit(outside())
}

func outside() int {
	for _, v := range []string{"KUBEBUILDER_ASSETS", "SLUICE_NODE_BINS"} {
		if os.Getenv(v) == "" {
			fmt.Printf("node: %s is not set; run `make node`\n", v)
			return 1
		}
	}
	if os.Geteuid() != 0 {
		fmt.Println("node: the real node needs root (containerd, runc, namespaces, cgroups)")
		return 1
	}
	dir, err := os.MkdirTemp("", "sluice-node-")
	if err != nil {
		fmt.Println("node:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	if err := node.BuildImages(ctx, dir); err != nil {
		fmt.Println("node:", err)
		return 1
	}
	fmt.Printf("node: images built in %s\n", time.Since(start).Round(time.Millisecond))
	code := node.RunInNamespaces(dir)
	if code != 0 || os.Getenv("SLUICE_NODE_KEEP") == "1" {
		fmt.Println("node: work directory (logs of every component) kept at", dir)
		return code
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Println("node: removing the work directory:", err)
	}
	return code
}

func inside(m *testing.M, dir string) (code int) {
	workDir = dir
	ctx := context.Background()
	if err := node.SetUpNamespace(ctx, dir); err != nil {
		fmt.Println("node:", err)
		return 1
	}
	start := time.Now()
	s, err := node.Start(ctx, node.Options{Dir: dir, Assets: os.Getenv("KUBEBUILDER_ASSETS"), Bins: os.Getenv("SLUICE_NODE_BINS")})
	if err != nil {
		fmt.Println("node:", err)
		return 1
	}
	stack = s
	fmt.Printf("node: containerd, control plane and kubelet up, node Ready in %s\n", time.Since(start).Round(time.Millisecond))
	defer func() {
		t := time.Now()
		if err := stack.Stop(context.Background()); err != nil {
			fmt.Println("node: stopping:", err)
			code = max(code, 1)
		}
		fmt.Printf("node: stopped in %s\n", time.Since(t).Round(time.Millisecond))
	}()
	if err := newClients(); err != nil {
		fmt.Println("node:", err)
		return 1
	}
	return m.Run()
}

func newClients() error {
	var err error
	if kube, err = kubernetes.NewForConfig(stack.Config); err != nil {
		return err
	}
	if dyn, err = dynamic.NewForConfig(stack.Config); err != nil {
		return err
	}
	scheme, err := cluster.NewScheme()
	if err != nil {
		return err
	}
	crc, err = client.New(stack.Config, client.Options{Scheme: scheme})
	return err
}

// requireNode skips outside `make node` and fails when sluice is not installed.
func requireNode(t *testing.T, needInstall bool) {
	t.Helper()
	if os.Getenv("SLUICE_NODE") != "1" {
		t.Skip("set SLUICE_NODE=1 (make node) to run sluice on a real node")
	}
	if needInstall && !installed {
		t.Fatal("sluice is not installed on the node (TestInstall failed)")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
