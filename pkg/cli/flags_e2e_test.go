package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// TestConnectionFlagsE2E runs the plugin with every kubectl connection flag that reaches
// the API server, against the RBAC-authorizing test API server: a non-admin user "ci-bot"
// that may read Services and TrafficShifts in namespace "rbac" only (and not impersonate),
// a group "sluice-viewers" with the same rights, a ServiceAccount token, and a kubeconfig
// with several clusters, users and contexts.
func TestConnectionFlagsE2E(t *testing.T) {
	needCluster(t)
	ctx := context.Background()
	const ns = "rbac"
	createNamespace(t, ns)
	st := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 2, 25)
	createServiceIn(t, ns, "reviews", nil, map[string]string{spec.AnnCanary: "v2"}, &st)
	kc := rbacSetup(t, ctx, ns)

	base := []string{"sluice", "status", "reviews"}
	tests := map[string]struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		"--context: its user and namespace": {args: []string{"--kubeconfig", kc.multi, "--context", "bot"}, stdout: "Service:          rbac/reviews"},
		"--user":                            {args: []string{"--kubeconfig", kc.multi, "--user", "ci-bot", "-n", ns}, stdout: "rbac/reviews"},
		"--user outside its rights: 403": {
			args: []string{"--kubeconfig", kc.multi, "--user", "ci-bot", "-n", env.ns}, code: ExitFailed,
			stderr: `User "ci-bot" cannot get resource "services"`,
		},
		"--cluster": {
			args: []string{"--kubeconfig", kc.multi, "--cluster", "dead", "-n", ns}, code: ExitFailed,
			stderr: "127.0.0.1:1",
		},
		"--as: the admin acting as ci-bot": {args: []string{"--kubeconfig", env.kubeconfig, "--as", "ci-bot", "-n", ns}, stdout: "rbac/reviews"},
		"--as: ci-bot's rights apply": {
			args: []string{"--kubeconfig", env.kubeconfig, "--as", "ci-bot", "-n", env.ns}, code: ExitFailed,
			stderr: `User "ci-bot" cannot get resource "services"`,
		},
		"--as by a user not allowed to impersonate: 403": {
			args: []string{"--kubeconfig", kc.multi, "--context", "bot", "--as", "sluice-admin"}, code: ExitFailed,
			stderr: `User "ci-bot" cannot impersonate`,
		},
		"--as-group": {args: []string{"--kubeconfig", env.kubeconfig, "--as", "someone", "--as-group", "sluice-viewers", "-n", ns}, stdout: "rbac/reviews"},
		"--as without the group": {
			args: []string{"--kubeconfig", env.kubeconfig, "--as", "someone", "-n", ns}, code: ExitFailed,
			stderr: `User "someone" cannot get resource "services"`,
		},
		"--token --server --certificate-authority, no kubeconfig": {
			args: []string{"--server", env.c.Config.Host, "--token", kc.token, "--certificate-authority", kc.ca, "-n", ns}, stdout: "rbac/reviews",
		},
		"--server with a bad token: 401": {
			args: []string{"--server", env.c.Config.Host, "--token", "not-a-token", "--certificate-authority", kc.ca, "-n", ns}, code: ExitFailed,
			stderr: "401 Unauthorized",
		},
		"--request-timeout reaches the client": {
			args: []string{"--kubeconfig", env.kubeconfig, "-n", ns, "--request-timeout", "1ns"}, code: ExitFailed,
			stderr: "--request-timeout sets the limit",
		},
		"--request-timeout long enough": {args: []string{"--kubeconfig", env.kubeconfig, "-n", ns, "--request-timeout", "30s"}, stdout: "rbac/reviews"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runKubectl(t, "", append(append([]string{}, base...), tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stdout %q / stderr %q, want %q / %q", r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
			if strings.Contains(tc.stderr, "403") || strings.Contains(tc.stderr, "cannot") {
				if !strings.Contains(r.stderr, "403 Forbidden") {
					t.Errorf("a refusal without the 403 hint: %s", r.stderr)
				}
			}
		})
	}

	// wait and release --wait keep their own exit code (5) for a refusal.
	for _, args := range [][]string{
		{"sluice", "wait", "reviews", "--kubeconfig", kc.multi, "--context", "bot", "--as", "sluice-admin"},
		{"sluice", "release", "reviews", "--canary", "v3", "--wait", "--kubeconfig", kc.multi, "--context", "bot", "--as", "sluice-admin"},
	} {
		r := runKubectl(t, "", args...)
		if r.code != ExitError || !strings.Contains(r.stderr, "403 Forbidden") {
			t.Errorf("%v: exit code %d, stderr %q; want %d and a 403 message", args[1:3], r.code, r.stderr, ExitError)
		}
	}
}

// rbacFixture is what rbacSetup made.
type rbacFixture struct {
	multi string // kubeconfig with contexts admin, bot, dead
	token string // a ServiceAccount token with the reader Role
	ca    string // the API server's CA certificate file
}

// rbacSetup creates the reader Role, its bindings, the ServiceAccount and the kubeconfigs.
func rbacSetup(t *testing.T, ctx context.Context, ns string) rbacFixture {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "sluice-reader", Namespace: ns},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch", "patch"}},
			{APIGroups: []string{sluicev1alpha1.GroupVersion.Group}, Resources: []string{"trafficshifts"}, Verbs: []string{"get", "list", "watch"}},
		},
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sluice-ci", Namespace: ns}}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "sluice-reader", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{
			{Kind: "User", Name: "ci-bot", APIGroup: "rbac.authorization.k8s.io"},
			{Kind: "Group", Name: "sluice-viewers", APIGroup: "rbac.authorization.k8s.io"},
			{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns},
		},
	}
	if err := env.c.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.c.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if err := env.c.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.c.Config)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a ServiceAccount token: %v", err)
	}

	dir := t.TempDir()
	botPath := filepath.Join(dir, "bot")
	if err := env.c.UserKubeconfig(botPath, "ci-bot"); err != nil {
		t.Fatal(err)
	}
	admin, err := clientcmd.LoadFromFile(env.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	bot, err := clientcmd.LoadFromFile(botPath)
	if err != nil {
		t.Fatal(err)
	}
	adminCtx := admin.Contexts[admin.CurrentContext]
	botCtx := bot.Contexts[bot.CurrentContext]
	cluster := admin.Clusters[adminCtx.Cluster]
	multi := clientcmdapi.NewConfig()
	multi.Clusters["test"] = cluster
	multi.Clusters["dead"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", CertificateAuthorityData: cluster.CertificateAuthorityData}
	multi.AuthInfos["admin"] = admin.AuthInfos[adminCtx.AuthInfo]
	multi.AuthInfos["ci-bot"] = bot.AuthInfos[botCtx.AuthInfo]
	multi.Contexts["admin"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin", Namespace: env.ns}
	multi.Contexts["bot"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "ci-bot", Namespace: ns}
	multi.CurrentContext = "admin"
	f := rbacFixture{multi: filepath.Join(dir, "multi"), token: tr.Status.Token, ca: filepath.Join(dir, "ca.crt")}
	if err := clientcmd.WriteToFile(*multi, f.multi); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.ca, cluster.CertificateAuthorityData, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}
