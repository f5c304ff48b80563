package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/meshlab"
)

type options struct {
	rate float64
	dir  string
}

// controlEnv names the lab's control address in the environment of its shell lines.
const controlEnv = "SLUICE_LAB"

// healthy is how every backend answers until a fault: 10 ms, no errors.
var healthy = meshlab.Behaviour{Latency: 10 * time.Millisecond}

// writeKubeconfig writes a kubeconfig for the lab whose context defaults to its namespace.
func writeKubeconfig(lab *meshlab.Lab, path string) error {
	if err := lab.Cluster.Kubeconfig(path); err != nil {
		return err
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return fmt.Errorf("reading the lab kubeconfig: %w", err)
	}
	for _, c := range cfg.Contexts {
		c.Namespace = lab.Namespace()
	}
	return clientcmd.WriteToFile(*cfg, path)
}

func run(ctx context.Context, o options, out io.Writer) error {
	log.SetLogger(logr.Discard())
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	dir, err := workDir(o.dir)
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "bin")
	say("▶ building kubectl-sluice and sluice-lab into %s …", bin)
	if err := buildTools(ctx, bin); err != nil {
		return err
	}
	say("▶ starting etcd, kube-apiserver and istiod (real binaries), the backends and the gateway caller …")
	start, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	sl, err := meshlab.StartWithSluice(start, meshlab.SluiceLabConfig{
		Lab: meshlab.Config{
			Subsets: []meshlab.Subset{{Name: "v1", Pods: 2}, {Name: "v2", Pods: 2}, {Name: "v3", Pods: 2}},
			Callers: 1, Rate: o.rate,
			Istiod: meshlab.IstiodOptions{BinDir: os.Getenv("SLUICE_ISTIOD_BIN")},
		},
		Confirm: meshlab.ConfirmAtCallers,
		LogPath: filepath.Join(dir, "sluice.log"),
	})
	if err != nil {
		return err
	}
	defer func() { _ = sl.Stop() }()
	lab := sl.Lab
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(lab, kubeconfig); err != nil {
		return err
	}
	for _, s := range []string{"v1", "v2", "v3"} {
		lab.SetSubsetBehaviour(s, healthy)
	}
	if err := os.Symlink(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), filepath.Join(bin, "kubectl")); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("linking kubectl: %w", err)
	}
	control, err := serveControl(ctx, lab)
	if err != nil {
		return err
	}
	if err := lab.Annotate(ctx, map[string]string{"sluice.dev/enabled": "true", "sluice.dev/stats-from": "app=gateway",
		"sluice.dev/step-duration": "10s", "sluice.dev/max-latency-p99": (4 * healthy.Latency).String()}); err != nil {
		return err
	}
	say(`
The lab is up: Service %[1]s in namespace %[2]s (DestinationRule subsets v1, v2, v3; a
VirtualService routing to v1), a gateway caller at %[3]g calls/s through istiod, and sluice
(log: %[4]s). In another shell:

  export KUBECONFIG=%[5]s PATH=%[6]s:$PATH %[7]s=%[8]s

  kubectl sluice status %[9]s --watch
  kubectl sluice release %[9]s --canary v2 --commit 3f9c1e2 --wait
  sluice-lab fault v3 --errors 0.3          # or --latency 5x, --healthy
  kubectl sluice release %[9]s --canary v3 --wait
  kubectl sluice plan -f <(kubectl get virtualservice %[9]s -o yaml) --canary v3 --weight 25
  kubectl sluice stats %[10]s --host %[11]s

Ctrl-C stops everything.`, lab.Host(), lab.Namespace(), o.rate, filepath.Join(dir, "sluice.log"), kubeconfig, bin, controlEnv, control,
		lab.Service(), lab.Callers[0].StatsURL(), lab.Host())
	<-ctx.Done()
	say("\n▶ stopping the lab …")
	return sl.Stop()
}

func workDir(dir string) (string, error) {
	if dir == "" {
		return os.MkdirTemp("", "sluice-lab-")
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// buildTools builds the plugin and this command into bin.
func buildTools(ctx context.Context, bin string) error {
	for name, pkg := range map[string]string{"kubectl-sluice": "./cmd/kubectl-sluice", "sluice-lab": "./e2e/lab"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = cluster.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

// serveControl serves the fault endpoint on loopback and returns its address.
func serveControl(ctx context.Context, lab *meshlab.Lab) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listening for lab commands: %w", err)
	}
	srv := &http.Server{Handler: controlHandler(lab, healthy), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() { <-ctx.Done(); _ = srv.Close() }()
	return ln.Addr().String(), nil
}
