// Package manifests_test checks the deploy manifests: they decode strictly into their
// API types, the default ShiftPolicy equals the built-in default, the kustomizations list
// every file, and the controller's ClusterRole grants what it needs and no writes beyond.
package manifests_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/cluster"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// decodeAll strictly decodes every document of a manifest file into typed objects.
func decodeAll(t *testing.T, path string) []runtime.Object {
	t.Helper()
	scheme, err := cluster.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	dec := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []runtime.Object
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i+1, err)
		}
		out = append(out, obj)
	}
	return out
}

func TestManifestsDecodeStrictly(t *testing.T) {
	tests := map[string]struct {
		kinds []string
	}{
		"namespace.yaml":                  {[]string{"Namespace"}},
		"rbac.yaml":                       {[]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Role", "RoleBinding"}},
		"flowschema.yaml":                 {[]string{"FlowSchema"}},
		"deployment.yaml":                 {[]string{"Deployment", "Service", "Service", "PodDisruptionBudget"}},
		"policies/default-policy.yaml":    {[]string{"ShiftPolicy"}},
		"examples/strict-policy.yaml":     {[]string{"ShiftPolicy"}},
		"examples/resources-policy.yaml":  {[]string{"ShiftPolicy"}},
		"examples/annotated-service.yaml": {[]string{"Service", "DestinationRule", "VirtualService"}},
	}
	for path, tc := range tests {
		t.Run(path, func(t *testing.T) {
			var kinds []string
			for _, obj := range decodeAll(t, path) {
				kinds = append(kinds, obj.GetObjectKind().GroupVersionKind().Kind)
				switch o := obj.(type) {
				case *sluicev1alpha1.ShiftPolicy:
					if _, err := spec.Parse(nil, &o.Spec); err != nil {
						t.Errorf("ShiftPolicy %s is invalid: %v", o.Name, err)
					}
				case *corev1.Service:
					if _, err := spec.Parse(o.Annotations, nil); err != nil {
						t.Errorf("Service %s annotations are invalid: %v", o.Name, err)
					}
				}
			}
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("kinds = %v, want %v", kinds, tc.kinds)
			}
		})
	}
}

func TestDefaultPolicyIsTheBuiltIn(t *testing.T) {
	objs := decodeAll(t, "policies/default-policy.yaml")
	p, ok := objs[0].(*sluicev1alpha1.ShiftPolicy)
	if !ok || p.Name != spec.DefaultPolicyName {
		t.Fatalf("default-policy.yaml holds %T named %q, want a ShiftPolicy named %q", objs[0], p.Name, spec.DefaultPolicyName)
	}
	if want := spec.DefaultPolicy(); !equality.Semantic.DeepEqual(p.Spec, want) {
		got, _ := yaml.Marshal(p.Spec)
		exp, _ := yaml.Marshal(want)
		t.Errorf("default-policy.yaml differs from spec.DefaultPolicy():\n%s\nwant:\n%s", got, exp)
	}
}

func TestKustomizationsListEveryFile(t *testing.T) {
	tests := map[string]struct {
		dir   string
		extra []string // listed files outside dir's own *.yaml
	}{
		"install":  {dir: ".", extra: []string{"crds/sluice.dev_shiftpolicies.yaml", "crds/sluice.dev_trafficshifts.yaml"}},
		"examples": {dir: "examples"},
		"policies": {dir: "policies"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(tc.dir, "kustomization.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var k struct {
				Resources []string `json:"resources"`
			}
			if err := yaml.Unmarshal(data, &k); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(tc.dir, "*.yaml"))
			want := append([]string{}, tc.extra...)
			for _, f := range files {
				if base := filepath.Base(f); base != "kustomization.yaml" {
					want = append(want, base)
				}
			}
			slices.Sort(want)
			got := slices.Sorted(slices.Values(k.Resources))
			if !slices.Equal(got, want) {
				t.Errorf("resources = %v, want %v", got, want)
			}
			for _, r := range k.Resources {
				if _, err := os.Stat(filepath.Join(tc.dir, r)); err != nil {
					t.Errorf("listed resource: %v", err)
				}
			}
		})
	}
}
