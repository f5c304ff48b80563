package install

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// objects decodes the YAML documents of data.
func objects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return out
			}
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// TestInstallIntoEmptyCluster: `kubectl apply -k manifests/` into a cluster with nothing of
// sluice's created every object of the kustomization in one apply, without a warning; a
// second apply changes nothing; the namespace enforces the restricted Pod Security Standard.
func TestInstallIntoEmptyCluster(t *testing.T) {
	built, err := kubectl(t.Context(), "kustomize", filepath.Join(repo, "manifests"))
	must(t, err)
	objs := objects(t, []byte(built))
	if len(objs) < 10 {
		t.Fatalf("kubectl kustomize manifests/ gave %d objects", len(objs))
	}
	versions := func() map[string]string {
		out := map[string]string{}
		for _, o := range objs {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(o.GroupVersionKind())
			if err := adminC.Get(t.Context(), client.ObjectKeyFromObject(o), got); err != nil {
				t.Errorf("%s %s after the install: %v", o.GetKind(), o.GetName(), err)
			}
			out[o.GetKind()+"/"+o.GetName()] = got.GetResourceVersion()
		}
		return out
	}
	for _, o := range objs {
		kind := strings.ToLower(o.GetKind())
		if g := o.GroupVersionKind().Group; g != "" {
			kind += "." + g
		}
		if line := kind + "/" + o.GetName() + " created"; !strings.Contains(installOut, line) {
			t.Errorf("the install did not print %q:\n%s", line, installOut)
		}
	}
	before := versions()
	for _, bad := range []string{"Warning", "error", "unable"} {
		if strings.Contains(installOut, bad) {
			t.Errorf("the install printed %q:\n%s", bad, installOut)
		}
	}
	// A second apply writes nothing. (kubectl reports the PodDisruptionBudget "configured":
	// its selector's patch strategy is replace, so its patch is never empty; the server
	// finds nothing to change.)
	again, err := kubectl(t.Context(), "apply", "-k", filepath.Join(repo, "manifests"))
	must(t, err)
	if after := versions(); !maps.Equal(before, after) {
		t.Errorf("a second apply wrote objects: resourceVersions %v → %v\n%s", before, after, again)
	}
	ns := &corev1.Namespace{}
	must(t, adminC.Get(t.Context(), client.ObjectKey{Name: sluiceNamespace}, ns))
	if got := ns.Labels["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("namespace %s enforces Pod Security %q, want restricted", sluiceNamespace, got)
	}
	p := &sluicev1alpha1.ShiftPolicy{}
	must(t, adminC.Get(t.Context(), client.ObjectKey{Name: "default"}, p))
}

// TestManifestsPassServerDryRun: every manifest file, and every kustomization, passes
// `kubectl apply --dry-run=server` (schema, CEL rules, admission) on the real API server.
// manifests/monitoring's PrometheusRule needs the Prometheus Operator's CRD, which this
// cluster does not have (promtool checks those rules in manifests/monitoring); its
// dashboard ConfigMap is checked here.
func TestManifestsPassServerDryRun(t *testing.T) {
	// The examples live in namespace bookinfo, which their user has.
	if err := adminC.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bookinfo"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	tests := map[string][]string{
		"namespace.yaml":                  {"-f", "namespace.yaml"},
		"rbac.yaml":                       {"-f", "rbac.yaml"},
		"flowschema.yaml":                 {"-f", "flowschema.yaml"},
		"deployment.yaml":                 {"-f", "deployment.yaml"},
		"crds/":                           {"-f", "crds/"},
		"policies/default-policy.yaml":    {"-f", "policies/default-policy.yaml"},
		"examples/strict-policy.yaml":     {"-f", "examples/strict-policy.yaml"},
		"examples/annotated-service.yaml": {"-f", "examples/annotated-service.yaml"},
		"-k manifests/":                   {"-k", "."},
		"-k manifests/policies/":          {"-k", "policies"},
		"-k manifests/examples/":          {"-k", "examples"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			args[1] = filepath.Join(repo, "manifests", args[1])
			out, err := kubectl(t.Context(), append([]string{"apply", "--dry-run=server"}, args...)...)
			if err != nil || strings.Contains(out, "Warning") {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "(server dry run)") {
				t.Fatalf("no object was applied:\n%s", out)
			}
		})
	}
	t.Run("monitoring dashboard", func(t *testing.T) {
		built, err := kubectl(t.Context(), "kustomize", filepath.Join(repo, "manifests", "monitoring"))
		must(t, err)
		var cms []byte
		for _, o := range objects(t, []byte(built)) {
			if o.GetKind() == "ConfigMap" {
				data, err := o.MarshalJSON()
				must(t, err)
				cms = append(cms, data...)
			}
		}
		if len(cms) == 0 {
			t.Fatal("manifests/monitoring has no ConfigMap")
		}
		path := filepath.Join(t.TempDir(), "dashboard.json")
		must(t, os.WriteFile(path, cms, 0o600))
		if out, err := kubectl(t.Context(), "apply", "--dry-run=server", "-f", path); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	})
}

// TestPodSecurityRestricted: a Pod with the Deployment's pod spec is admitted in
// sluice-system, which enforces the restricted Pod Security Standard; each way of breaking
// the standard is refused there, so the check can fail.
func TestPodSecurityRestricted(t *testing.T) {
	dep := &appsv1.Deployment{}
	must(t, adminC.Get(t.Context(), client.ObjectKey{Namespace: sluiceNamespace, Name: "sluice"}, dep))
	tests := map[string]struct {
		change func(*corev1.PodSpec)
		admit  bool
	}{
		"as installed": {change: func(*corev1.PodSpec) {}, admit: true},
		"privileged": {change: func(s *corev1.PodSpec) {
			// (privileged with allowPrivilegeEscalation false is invalid before it is insecure)
			s.Containers[0].SecurityContext.Privileged, s.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(true), nil
		}},
		"privilege escalation": {change: func(s *corev1.PodSpec) {
			s.Containers[0].SecurityContext.AllowPrivilegeEscalation = new(true)
		}},
		"capabilities kept": {change: func(s *corev1.PodSpec) { s.Containers[0].SecurityContext.Capabilities = nil }},
		"no seccomp profile": {change: func(s *corev1.PodSpec) {
			s.SecurityContext.SeccompProfile = nil
		}},
		"runs as root": {change: func(s *corev1.PodSpec) {
			s.SecurityContext.RunAsNonRoot, s.SecurityContext.RunAsUser = nil, new(int64(0))
		}},
		"host network": {change: func(s *corev1.PodSpec) { s.HostNetwork = true }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := dep.Spec.Template.Spec.DeepCopy()
			tc.change(spec)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "sluice-pss-", Namespace: sluiceNamespace,
				Labels: map[string]string{"sluice.dev/test": "pod-security"}}, Spec: *spec}
			err := adminC.Create(t.Context(), pod)
			switch {
			case tc.admit && err != nil:
				t.Fatalf("the Deployment's pod spec was refused: %v", err)
			case tc.admit:
				must(t, adminC.Delete(t.Context(), pod))
			case err == nil:
				_ = adminC.Delete(t.Context(), pod)
				t.Fatal("admitted a pod that breaks the restricted standard")
			case !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:`):
				t.Fatalf("refused, but not by Pod Security: %v", err)
			}
		})
	}
}

// TestFlowSchemaPutsLeasesInLeaderElection: the API server accepted the FlowSchema and
// found its priority level (not dangling), and it classifies the ServiceAccount's Lease
// requests there (the X-Kubernetes-PF-* response headers name the flow schema and level
// that served a request), while its other requests stay with the built-in schemas.
func TestFlowSchemaPutsLeasesInLeaderElection(t *testing.T) {
	fs := &flowcontrolv1.FlowSchema{}
	pl := &flowcontrolv1.PriorityLevelConfiguration{}
	must(t, adminC.Get(t.Context(), client.ObjectKey{Name: "leader-election"}, pl))
	deadline := time.Now().Add(10 * time.Second)
	for {
		must(t, adminC.Get(t.Context(), client.ObjectKey{Name: "sluice-leader-election"}, fs))
		if dangling(fs) == flowcontrolv1.ConditionFalse {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FlowSchema sluice-leader-election: Dangling is %q, want False; status %+v", dangling(fs), fs.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	hc, err := rest.HTTPClientFor(saConfig)
	must(t, err)
	tests := map[string]struct {
		path string
		ours bool
	}{
		"lease in sluice-system": {"/apis/coordination.k8s.io/v1/namespaces/sluice-system/leases/sluice.sluice.dev", true},
		"lease elsewhere":        {"/apis/coordination.k8s.io/v1/namespaces/default/leases/sluice.sluice.dev", false},
		"services":               {"/api/v1/services?limit=1", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, saConfig.Host+tc.path, nil)
			must(t, err)
			req.Header.Set("Authorization", "Bearer "+saConfig.BearerToken)
			resp, err := hc.Do(req)
			must(t, err)
			_ = resp.Body.Close()
			gotFS, gotPL := resp.Header.Get("X-Kubernetes-PF-FlowSchema-UID"), resp.Header.Get("X-Kubernetes-PF-PriorityLevel-UID")
			if gotFS == "" {
				t.Fatalf("GET %s (%s): no X-Kubernetes-PF-FlowSchema-UID header", tc.path, resp.Status)
			}
			if ours := gotFS == string(fs.UID); ours != tc.ours {
				t.Fatalf("GET %s: served by flow schema %s (ours %s): ours=%v, want %v", tc.path, gotFS, fs.UID, ours, tc.ours)
			}
			if tc.ours && gotPL != string(pl.UID) {
				t.Fatalf("GET %s: priority level %s, want leader-election (%s)", tc.path, gotPL, pl.UID)
			}
		})
	}
}

func dangling(fs *flowcontrolv1.FlowSchema) flowcontrolv1.ConditionStatus {
	for _, c := range fs.Status.Conditions {
		if c.Type == flowcontrolv1.FlowSchemaConditionDangling {
			return c.Status
		}
	}
	return ""
}

// widgetCRD and a Widget: a CRD new to the cluster and an object of it, in one kustomization.
const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.install.sluice.dev}
spec:
  group: install.sluice.dev
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`

// TestCustomResourceNeedsItsCRDFirst is why the default ShiftPolicy is not in
// manifests/: kubectl maps every object of an apply before creating any, so an object of
// a CRD that the same apply creates is refused (the CRD itself is created).
func TestCustomResourceNeedsItsCRDFirst(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"crd.yaml":           widgetCRD,
		"widget.yaml":        "apiVersion: install.sluice.dev/v1\nkind: Widget\nmetadata: {name: one}\n",
		"kustomization.yaml": "resources: [crd.yaml, widget.yaml]\n",
	}
	for name, content := range files {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
	}
	out, err := kubectl(t.Context(), "apply", "-k", dir)
	t.Cleanup(func() { _, _ = kubectl(context.Background(), "delete", "crd", "widgets.install.sluice.dev") })
	if err == nil || !strings.Contains(out, `no matches for kind "Widget"`) {
		t.Fatalf("applying a CRD and its object in one apply: %v\n%s\nwant the object refused", err, out)
	}
	if !strings.Contains(out, "customresourcedefinition.apiextensions.k8s.io/widgets.install.sluice.dev created") {
		t.Fatalf("the CRD was not created:\n%s", out)
	}
}
