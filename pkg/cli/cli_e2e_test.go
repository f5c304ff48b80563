package cli

// Real-API-server tests: one kube-apiserver for the package (TestMain), the plugin built
// once and run through the real kubectl, which finds it on PATH (kubectl-sluice, and the
// completion helper kubectl_complete-sluice). TrafficShift statuses are written by hand,
// as the controller would (no controller runs here).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/e2e/cluster"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// testEnv is the shared cluster and the kubectl that runs the plugin.
type testEnv struct {
	c          *cluster.Cluster
	kubeconfig string // the administrator's
	ns         string
	dir        string   // scratch directory (kubeconfigs, HOME)
	kubectl    string   // path of the real kubectl
	environ    []string // PATH with the plugin first, HOME in dir, no KUBECONFIG
}

// env is the shared cluster; nil when KUBEBUILDER_ASSETS is unset.
var env *testEnv

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "kubectl-sluice-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bin")
	if err := buildPlugin(ctx, bin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := cluster.Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test cluster:", err)
		return 1
	}
	defer func() { _ = c.Stop() }()
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
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	environ := []string{"PATH=" + bin + string(os.PathListSeparator) + assets + string(os.PathListSeparator) + "/usr/bin:/bin", "HOME=" + home}
	env = &testEnv{c: c, kubeconfig: kc, ns: ns.Name, dir: dir, kubectl: filepath.Join(assets, "kubectl"), environ: environ}
	return m.Run()
}

// buildPlugin builds kubectl-sluice into bin and installs the completion helper beside it.
func buildPlugin(ctx context.Context, bin string) error {
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-o", filepath.Join(bin, "kubectl-sluice")}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.CommandContext(ctx, "go", append(args, "./cmd/kubectl-sluice")...)
	build.Dir = cluster.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building kubectl-sluice: %w\n%s", err, out)
	}
	helper, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), "hack", "kubectl_complete-sluice"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bin, "kubectl_complete-sluice"), helper, 0o755)
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

// cliResult is the outcome of one run of kubectl sluice.
type cliResult struct {
	code           int
	stdout, stderr string
}

// running is a kubectl sluice process started in the background.
type running struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	done   <-chan cliResult
}

// startKubectl runs "kubectl ARGS..." (the plugin is "kubectl sluice …") with the test
// PATH, stdin from stdin (may be nil); the arguments are taken as they are.
func startKubectl(t *testing.T, stdin string, args ...string) *running {
	t.Helper()
	var out, errOut syncBuffer
	cmd := exec.Command(env.kubectl, args...)
	cmd.Env = env.environ
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting kubectl %v: %v", args, err)
	}
	ch := make(chan cliResult, 1)
	go func() {
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			code = -1
		}
		ch <- cliResult{code, out.String(), errOut.String()}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return &running{cmd: cmd, stdout: &out, done: ch}
}

// startCLI runs "kubectl sluice ARGS... --kubeconfig ADMIN -n cli-e2e" in the background.
func startCLI(t *testing.T, args ...string) (stdout *syncBuffer, done <-chan cliResult) {
	t.Helper()
	r := startKubectl(t, "", withAdmin(args)...)
	return r.stdout, r.done
}

// withAdmin is "sluice ARGS... --kubeconfig ADMIN -n cli-e2e".
func withAdmin(args []string) []string {
	return append(append([]string{"sluice"}, args...), "--kubeconfig", env.kubeconfig, "-n", env.ns)
}

// finish waits for a background run.
func finish(t *testing.T, done <-chan cliResult) cliResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("kubectl sluice did not return")
		return cliResult{}
	}
}

// runCLI runs "kubectl sluice ARGS..." as the administrator in the test namespace.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	_, done := startCLI(t, args...)
	return finish(t, done)
}

// runKubectl runs "kubectl ARGS..." as given, with stdin.
func runKubectl(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return finish(t, startKubectl(t, stdin, args...).done)
}

// createService creates an opted-in Service named name in the test namespace with extra
// annotations, and a TrafficShift with status st unless st is nil.
func createService(t *testing.T, name string, ann map[string]string, st *sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	createServiceIn(t, env.ns, name, nil, ann, st)
}

// createServiceIn is createService in namespace ns, with labels.
func createServiceIn(t *testing.T, ns, name string, labels, ann map[string]string, st *sluicev1alpha1.TrafficShiftStatus) {
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
	l := map[string]string{"app": name}
	for k, v := range labels {
		l[k] = v
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: all, Labels: l},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080}}},
	}
	if err := env.c.Client.Create(ctx, svc); err != nil {
		t.Fatalf("creating Service %s/%s: %v", ns, name, err)
	}
	if st != nil {
		createShiftIn(t, ns, name, *st)
	}
}

// createNamespace creates namespace name (once per test binary).
func createNamespace(t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.c.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

func createShift(t *testing.T, name string, st sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	createShiftIn(t, env.ns, name, st)
}

func createShiftIn(t *testing.T, ns, name string, st sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	ts := &sluicev1alpha1.TrafficShift{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       sluicev1alpha1.TrafficShiftSpec{Service: name},
	}
	if err := env.c.Client.Create(context.Background(), ts); err != nil {
		t.Fatalf("creating TrafficShift %s/%s: %v", ns, name, err)
	}
	setStatusIn(t, ns, name, st)
}

// setStatus replaces the TrafficShift's status, as the controller would.
func setStatus(t *testing.T, name string, st sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	setStatusIn(t, env.ns, name, st)
}

func setStatusIn(t *testing.T, ns, name string, st sluicev1alpha1.TrafficShiftStatus) {
	t.Helper()
	ctx := context.Background()
	ts := &sluicev1alpha1.TrafficShift{}
	if err := env.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ts); err != nil {
		t.Fatalf("reading TrafficShift %s/%s: %v", ns, name, err)
	}
	ts.Status = st
	if err := env.c.Client.Status().Update(ctx, ts); err != nil {
		t.Fatalf("writing TrafficShift %s/%s status: %v", ns, name, err)
	}
}

// eventually waits until cond holds, polling (only the test polls; the CLI watches).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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
