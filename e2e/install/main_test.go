package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// The names the manifests give sluice's namespace and ServiceAccount.
const (
	sluiceNamespace = "sluice-system"
	serviceAccount  = "sluice"
	saUser          = "system:serviceaccount:" + sluiceNamespace + ":" + serviceAccount
)

var (
	// env is the control plane: etcd and kube-apiserver with Istio's CRDs and nothing of
	// sluice's until the tests install it.
	env *envtest.Environment
	// admin is the cluster administrator's config and clients.
	admin      *rest.Config
	adminC     client.Client
	kube       kubernetes.Interface
	dyn        dynamic.Interface
	kubeconfig string // the administrator's kubeconfig, for kubectl
	// installOut is what `kubectl apply -k manifests/` printed.
	installOut string
	// saConfig authenticates as the manifests' ServiceAccount with a TokenRequest token.
	saConfig *rest.Config
	// home is kubectl's $HOME (its discovery cache), inside the test's temporary directory.
	home string
)

// repo is the sluice checkout; the tests read its manifests/ only.
var repo = cluster.RepoRoot()

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Println("e2e/install: KUBEBUILDER_ASSETS not set; run `make e2e` (builds the API server binaries)")
		return 1
	}
	dir, err := os.MkdirTemp("", "sluice-e2e-install-")
	if err != nil {
		fmt.Println("e2e/install:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := start(ctx, dir); err != nil {
		fmt.Println("e2e/install:", err)
		if env != nil {
			_ = env.Stop()
		}
		return 1
	}
	defer func() { _ = env.Stop() }()
	code := m.Run()
	if err := stopController(); err != nil {
		fmt.Println("e2e/install: stopping the controller:", err)
		code = 1
	}
	return code
}

// start brings up the control plane, installs the manifests as an administrator would,
// and gets the ServiceAccount's token.
func start(ctx context.Context, dir string) error {
	if err := startControlPlane(ctx, dir); err != nil {
		return err
	}
	out, err := kubectl(ctx, "apply", "-k", filepath.Join(repo, "manifests"))
	installOut = out
	if err != nil {
		return fmt.Errorf("kubectl apply -k manifests/: %w\n%s", err, out)
	}
	if out, err := kubectl(ctx, "wait", "--for=condition=Established", "--timeout=30s",
		"crd/shiftpolicies.sluice.dev", "crd/trafficshifts.sluice.dev"); err != nil {
		return fmt.Errorf("waiting for sluice's CRDs: %w\n%s", err, out)
	}
	if out, err := kubectl(ctx, "apply", "-k", filepath.Join(repo, "manifests", "policies")); err != nil {
		return fmt.Errorf("kubectl apply -k manifests/policies/: %w\n%s", err, out)
	}
	tok, err := kube.CoreV1().ServiceAccounts(sluiceNamespace).CreateToken(ctx, serviceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("TokenRequest for %s: %w", saUser, err)
	}
	saConfig = &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData},
		BearerToken: tok.Status.Token, QPS: 500, Burst: 1000}
	return nil
}

// startControlPlane starts etcd and kube-apiserver with Istio's CRDs only. The API server
// also runs OwnerReferencesPermissionEnforcement, as hardened clusters do, so that the
// TrafficShift's owner reference to its Service is checked against the ClusterRole.
func startControlPlane(ctx context.Context, dir string) error {
	istioCRDs, err := cluster.IstioCRDs(ctx)
	if err != nil {
		return err
	}
	scheme, err := cluster.NewScheme()
	if err != nil {
		return err
	}
	env = &envtest.Environment{
		BinaryAssetsDirectory: os.Getenv("KUBEBUILDER_ASSETS"),
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{istioCRDs}, ErrorIfPathMissing: true, Scheme: scheme},
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	// On loopback the default endpoint reconciler cannot publish the apiserver's address.
	args.Set("endpoint-reconciler-type", "none")
	args.Append("enable-admission-plugins", "OwnerReferencesPermissionEnforcement")
	if admin, err = env.Start(); err != nil {
		env = nil
		return fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	admin.QPS, admin.Burst = 500, 1000
	if adminC, err = client.New(admin, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if kube, err = kubernetes.NewForConfig(admin); err != nil {
		return err
	}
	if dyn, err = dynamic.NewForConfig(admin); err != nil {
		return err
	}
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "install-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding the administrator: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig, home = filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	return os.WriteFile(kubeconfig, data, 0o600)
}

// kubectl runs the real kubectl (built with the API server) as the administrator and
// returns its combined output.
func kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), args...)
	cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + home, "PATH=" + os.Getenv("PATH")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		err = fmt.Errorf("kubectl %s: exit %d", strings.Join(args, " "), exit.ExitCode())
	}
	return out.String(), err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
