package manifests_test

import (
	"flag"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// pendingFlags are Deployment flags another change adds to the controller; the test skips
// them until they exist, and fails once they do, so that this list is emptied.
var pendingFlags = map[string]bool{}

// deployment is what deployment.yaml holds.
type deployment struct {
	dep      *appsv1.Deployment
	services map[string]*corev1.Service
	pdb      *policyv1.PodDisruptionBudget
}

func loadDeployment(t *testing.T) deployment {
	t.Helper()
	d := deployment{services: map[string]*corev1.Service{}}
	for _, obj := range decodeAll(t, "deployment.yaml") {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			d.dep = o
		case *corev1.Service:
			d.services[o.Name] = o
		case *policyv1.PodDisruptionBudget:
			d.pdb = o
		}
	}
	if d.dep == nil || d.pdb == nil || len(d.dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("deployment.yaml lacks the Deployment (one container) or the PodDisruptionBudget")
	}
	return d
}

// TestDeploymentArgsAreControllerFlags: every argument is a flag of the sluice binary with a
// value it accepts.
func TestDeploymentArgsAreControllerFlags(t *testing.T) {
	c := loadDeployment(t).dep.Spec.Template.Spec.Containers[0]
	fs := flag.NewFlagSet("sluice", flag.ContinueOnError)
	var o manager.Options
	o.BindFlags(fs)
	var args []string
	for _, a := range c.Args {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case pendingFlags[name] && fs.Lookup(name) != nil:
			t.Errorf("--%s exists now: remove it from pendingFlags", name)
		case pendingFlags[name]:
			t.Logf("--%s: not a flag of this controller yet (pending)", name)
		default:
			args = append(args, a)
		}
	}
	if err := fs.Parse(args); err != nil {
		t.Fatalf("the Deployment's args do not parse: %v", err)
	}
	if fs.NArg() != 0 {
		t.Fatalf("stray arguments %v", fs.Args())
	}
	// Read back through the flag set, not the Options fields, which may move.
	val := func(name string) string { return fs.Lookup(name).Value.String() }
	if val("leader-elect") != "true" || val("webhook-bind-address") != ":9443" || val("alert-token-file") == "" {
		t.Errorf("--leader-elect=%s --webhook-bind-address=%q --alert-token-file=%q: want leader election and the receiver on :9443 with a token",
			val("leader-elect"), val("webhook-bind-address"), val("alert-token-file"))
	}
}

// TestDeploymentWiring: the receiver's token file is in the volume of Secret
// sluice-webhook-token, its port is named webhook and the sluice-webhook Service sends
// there; POD_NAMESPACE comes from the downward API; every Service and the
// PodDisruptionBudget select exactly the Deployment's pods, and the budget keeps one of
// the two replicas.
func TestDeploymentWiring(t *testing.T) {
	d := loadDeployment(t)
	pod := d.dep.Spec.Template
	c := pod.Spec.Containers[0]
	tokenFile := ""
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--alert-token-file="); ok {
			tokenFile = v
		}
	}
	mountedFrom := ""
	for _, m := range c.VolumeMounts {
		if path.Dir(tokenFile) == path.Clean(m.MountPath) {
			for _, v := range pod.Spec.Volumes {
				if v.Name == m.Name && v.Secret != nil {
					mountedFrom = v.Secret.SecretName
				}
			}
		}
	}
	if mountedFrom != "sluice-webhook-token" {
		t.Errorf("--alert-token-file=%s is not in a volume of Secret sluice-webhook-token (%q)", tokenFile, mountedFrom)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "webhook" && p.ContainerPort == 9443 }) {
		t.Errorf("no container port webhook 9443: %+v", c.Ports)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}) {
		t.Error("no POD_NAMESPACE from metadata.namespace")
	}
	if !slices.Contains(c.Args, "--leader-elect-namespace=$(POD_NAMESPACE)") {
		t.Error("no --leader-elect-namespace=$(POD_NAMESPACE)")
	}
	hook := d.services["sluice-webhook"]
	if hook == nil || len(hook.Spec.Ports) != 1 || hook.Spec.Ports[0].Port != 9443 || hook.Spec.Ports[0].TargetPort.String() != "webhook" {
		t.Fatalf("Service sluice-webhook: %+v, want port 9443 to the webhook port", hook)
	}
	podLabels := pod.Labels
	selectors := map[string]map[string]string{"Deployment": d.dep.Spec.Selector.MatchLabels, "PodDisruptionBudget": d.pdb.Spec.Selector.MatchLabels}
	for name, s := range d.services {
		selectors["Service "+name] = s.Spec.Selector
	}
	for what, sel := range selectors {
		if !maps.Equal(sel, podLabels) {
			t.Errorf("%s selects %v, the pods are labelled %v", what, sel, podLabels)
		}
	}
	if r := d.dep.Spec.Replicas; r == nil || *r != 2 {
		t.Errorf("replicas %v, want 2", r)
	}
	if m := d.pdb.Spec.MinAvailable; m == nil || m.IntValue() != 1 || d.pdb.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget minAvailable %v maxUnavailable %v, want minAvailable 1", m, d.pdb.Spec.MaxUnavailable)
	}
}
