// Package cluster starts a real etcd and kube-apiserver (built by e2e/k8sbins) with
// sluice's and Istio's CRDs installed, for end-to-end tests and the demo.
package cluster

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	networkingv1alpha3 "istio.io/client-go/pkg/apis/networking/v1alpha3"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Cluster is a running control plane.
type Cluster struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme
	// FrontProxyCA verifies the client certificate the aggregation layer presents to
	// extension API servers; nil unless started with Options.Aggregation.
	FrontProxyCA *x509.CertPool
	env          *envtest.Environment
	// dir holds etcd's data and the API server's certificates, kept across restarts
	// (restart.go), and the front-proxy certificates; removed by Stop.
	dir string
}

// NewScheme returns a scheme with the core, sluice and Istio networking types.
func NewScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, sluicev1alpha1.AddToScheme,
		networkingv1.AddToScheme, networkingv1alpha3.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("building scheme: %w", err)
		}
	}
	return s, nil
}

// IstioCRDs returns the path of Istio's CRD bundle inside the istio.io/api module.
func IstioCRDs(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api")
	cmd.Dir = RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the istio.io/api module: %w", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("istio CRDs: %w", err)
	}
	return p, nil
}

// Options are optional settings of the control plane.
type Options struct {
	// AuditLog, when set, is where kube-apiserver writes its audit log (JSON lines,
	// written as requests complete) under the policy in the file AuditPolicy.
	AuditLog, AuditPolicy string
	// Aggregation sets up the API server's aggregation layer (front-proxy client CA and
	// certificate, requestheader flags), so that an APIService can route a group to an
	// extension API server, e.g. a stand-in metrics.k8s.io on loopback.
	Aggregation bool
}

// Start launches etcd and kube-apiserver from $KUBEBUILDER_ASSETS and installs the CRDs.
func Start(ctx context.Context) (*Cluster, error) { return StartWith(ctx, Options{}) }

// StartWith is Start with options.
func StartWith(ctx context.Context, o Options) (*Cluster, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run through `make test`/`make demo`, or export KUBEBUILDER_ASSETS=$(e2e/k8sbins/build.sh)")
	}
	istioCRDs, err := IstioCRDs(ctx)
	if err != nil {
		return nil, err
	}
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              []string{filepath.Join(RepoRoot(), "manifests", "crds"), istioCRDs},
			ErrorIfPathMissing: true,
			Scheme:             scheme,
		},
	}
	// On loopback the default endpoint reconciler cannot publish the apiserver's address.
	env.ControlPlane.GetAPIServer().Configure().Set("endpoint-reconciler-type", "none")
	if o.AuditLog != "" {
		env.ControlPlane.GetAPIServer().Configure().
			Set("audit-log-path", o.AuditLog).Set("audit-policy-file", o.AuditPolicy).Set("audit-log-mode", "blocking")
	}
	dir, err := keepAcrossRestarts(env)
	if err != nil {
		return nil, err
	}
	var pool *x509.CertPool
	if o.Aggregation {
		if pool, err = frontProxy(env, dir); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	cfg, err := env.Start()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("client for the test API server: %w", err)
	}
	return &Cluster{Config: cfg, Client: c, Scheme: scheme, FrontProxyCA: pool, env: env, dir: dir}, nil
}

// Stop shuts the control plane down and removes its data.
func (c *Cluster) Stop() error {
	err := c.env.Stop()
	if rmErr := os.RemoveAll(c.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("removing the control plane's data: %w", rmErr)
	}
	return err
}

// Kubeconfig writes a kubeconfig for the cluster to path (for kubectl and the CLI),
// authenticated as an administrator (group system:masters).
func (c *Cluster) Kubeconfig(path string) error {
	return c.UserKubeconfig(path, "sluice-admin", "system:masters")
}

// UserKubeconfig writes a kubeconfig to path for a user authenticated by a client
// certificate with the given name and groups. The API server authorizes with RBAC: a
// user outside system:masters can do only what Roles bound to it allow.
func (c *Cluster) UserKubeconfig(path, name string, groups ...string) error {
	user, err := c.env.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return fmt.Errorf("adding user %s: %w", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("rendering the kubeconfig of %s: %w", name, err)
	}
	return os.WriteFile(path, data, 0o600)
}
