package cli

// Real-API-server tests: one kube-apiserver for the package (TestMain), TrafficShift
// statuses written by hand (no controller runs), the CLI run in-process through Run.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// env is the shared cluster; nil when KUBEBUILDER_ASSETS is unset.
var env *struct {
	c          *cluster.Cluster
	kubeconfig string
	ns         string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test cluster:", err)
		return 1
	}
	defer func() { _ = c.Stop() }()
	dir, err := os.MkdirTemp("", "kubectl-sluice-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kc := filepath.Join(dir, "kubeconfig")
	if err := c.Kubeconfig(kc); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cli-e2e"}}
	if err := c.Client.Create(ctx, ns); err != nil {
		fmt.Fprintln(os.Stderr, "creating the test namespace:", err)
		return 1
	}
	env = &struct {
		c          *cluster.Cluster
		kubeconfig string
		ns         string
	}{c, kc, ns.Name}
	return m.Run()
}

func needCluster(t *testing.T) {
	t.Helper()
	if env == nil {
		t.Skip("KUBEBUILDER_ASSETS is not set; export KUBEBUILDER_ASSETS=$(e2e/k8sbins/build.sh)")
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cliResult is the outcome of one in-process CLI run.
type cliResult struct {
	code           int
	stdout, stderr string
}

// startCLI runs the CLI against the test cluster in the background.
func startCLI(args ...string) (stdout *syncBuffer, done <-chan cliResult) {
	var out, errOut syncBuffer
	ch := make(chan cliResult, 1)
	full := append(append([]string{}, args...), "--kubeconfig", env.kubeconfig, "-n", env.ns)
	go func() {
		code := Run(context.Background(), full, &out, &errOut)
		ch <- cliResult{code, out.String(), errOut.String()}
	}()
	return &out, ch
}

func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	_, done := startCLI(args...)
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl sluice %v did not return", args)
		return cliResult{}
	}
}

// createService creates an opted-in Service named name with extra annotations, and a
// TrafficShift with status st unless st is nil.
func createService(t *testing.T, name string, ann map[string]string, st *sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	ctx := context.Background()
	all := map[string]string{spec.AnnEnabled: "true", "team.example.com/owner": "payments"}
	for k, v := range ann {
		if v == "" {
			delete(all, k)
			continue
		}
		all[k] = v
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns, Annotations: all, Labels: map[string]string{"app": name}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
	}
	if err := env.c.Client.Create(ctx, svc); err != nil {
		t.Fatalf("creating Service %s: %v", name, err)
	}
	if st != nil {
		createShift(t, name, *st)
	}
}

func createShift(t *testing.T, name string, st sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	ts := &sluicev1alpha1.TrafficShift{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.ns},
		Spec:       sluicev1alpha1.TrafficShiftSpec{Service: name},
	}
	if err := env.c.Client.Create(context.Background(), ts); err != nil {
		t.Fatalf("creating TrafficShift %s: %v", name, err)
	}
	setStatus(t, name, st)
}

// setStatus replaces the TrafficShift's status, as the controller would.
func setStatus(t *testing.T, name string, st sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	ctx := context.Background()
	ts := &sluicev1alpha1.TrafficShift{}
	if err := env.c.Client.Get(ctx, client.ObjectKey{Namespace: env.ns, Name: name}, ts); err != nil {
		t.Fatalf("reading TrafficShift %s: %v", name, err)
	}
	ts.Status = st
	if err := env.c.Client.Status().Update(ctx, ts); err != nil {
		t.Fatalf("writing TrafficShift %s status: %v", name, err)
	}
}

// eventually waits until cond holds, polling (only the test polls; the CLI watches).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func getService(t *testing.T, name string) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{}
	if err := env.c.Client.Get(context.Background(), client.ObjectKey{Namespace: env.ns, Name: name}, svc); err != nil {
		t.Fatalf("reading Service %s: %v", name, err)
	}
	return svc
}

func mkStatus(phase sluicev1alpha1.Phase, stable, canary string, step, weight int32) sluicev1alpha1.TrafficShiftStatus {
	return sluicev1alpha1.TrafficShiftStatus{Phase: phase, Stable: stable, Canary: canary, Step: step, Weight: weight}
}
