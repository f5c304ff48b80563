package install

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
)

// gitVirtualService is the VirtualService as a GitOps repository holds it: the stable
// subset alone, no weights, and a label the repository adds.
const gitVirtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  labels: {team: checkout}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`

// TestGitOpsServerSideApply shows what a GitOps tool's server-side apply of the
// VirtualService (another field manager, as Argo CD and Flux's kustomize-controller
// apply) does to a rollout held at 5 %:
//   - without force, the apply conflicts with sluice's ownership of spec.http and changes
//     nothing;
//   - with the live routes in it (what Argo CD's ignoreDifferences on the routes with
//     RespectIgnoreDifferences=true sends), it changes the rest (a label) and sluice
//     carries on;
//   - forced with the repository's routes, which leave the weights out, it puts the
//     stable subset back alone: VirtualService http is an atomic list, so leaving the
//     weights out of the manifest does not keep sluice's, and sluice pauses with
//     ExternalWeightChange instead of fighting the tool;
//   - a promotion still writes the routes: sluice's JSON patch is an update, which the
//     tool's ownership of spec.http does not block.
func TestGitOpsServerSideApply(t *testing.T) {
	controllerAsServiceAccount(t)
	s := newService(t, "gitops", "127.0.151.", 2)
	for _, v := range []string{"v1", "v2"} {
		s.fleet.SetBehaviour(v, standin.SubsetBehaviour{ErrorRate: 0.002})
	}
	held := func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5
	}
	s.annotate(map[string]any{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
		"sluice.dev/steps": "5,100", "sluice.dev/step-duration": "10m", "sluice.dev/min-requests": "20"})
	s.waitTS(30*time.Second, "v2 at 5 %", held)
	atFive := map[string]int32{"v1": 95, "v2": 5}
	s.wantWeights("at 5 %", atFive)

	git := s.manifest(gitVirtualService)
	if _, err := s.apply(git, "kustomize-controller", false); !apierrors.IsConflict(err) {
		t.Fatalf("a server-side apply without force of the repository's routes: %v, want a conflict", err)
	}
	s.wantWeights("after the conflicting apply", atFive)

	withLive := git.DeepCopy()
	live := s.liveHTTP()
	must(t, unstructured.SetNestedSlice(withLive.Object, live, "spec", "http"))
	if _, err := s.apply(withLive, "argocd-controller", true); err != nil {
		t.Fatalf("applying with the live routes: %v", err)
	}
	s.holds(2*time.Second, "after an apply with the live routes", held)
	s.wantWeights("after an apply with the live routes", atFive)
	if got := s.virtualService().Labels["team"]; got != "checkout" {
		t.Fatalf("the repository's label was not applied: %q", got)
	}

	if _, err := s.apply(git, "kustomize-controller", true); err != nil {
		t.Fatalf("forcing the repository's routes: %v", err)
	}
	ts := s.waitTS(10*time.Second, "the ExternalWeightChange pause", phaseIs(sluicev1alpha1.PhasePaused))
	if d := ts.Status.LastDecision; d == nil || d.Reason != reason.ExternalWeightChange {
		t.Fatalf("paused with %+v, want reason %s", d, reason.ExternalWeightChange)
	}
	time.Sleep(time.Second) // ticks go by: sluice does not write the weights back
	s.wantWeights("paused", map[string]int32{"v1": 100})

	s.annotate(map[string]any{"sluice.dev/promote": "v2"})
	s.waitTS(10*time.Second, "the promotion of v2", phaseIs(sluicev1alpha1.PhasePromoted))
	s.wantWeights("promoted", map[string]int32{"v2": 100})
}

// manifest parses a YAML object into s's namespace.
func (s *service) manifest(doc string) *unstructured.Unstructured {
	s.t.Helper()
	u := &unstructured.Unstructured{}
	must(s.t, yaml.Unmarshal([]byte(doc), &u.Object))
	u.SetNamespace(s.ns)
	return u
}

// apply server-side applies u as manager.
func (s *service) apply(u *unstructured.Unstructured, manager string, force bool) (*unstructured.Unstructured, error) {
	return dyn.Resource(standin.VirtualServiceGVR).Namespace(s.ns).Apply(context.Background(), u.GetName(), u,
		metav1.ApplyOptions{FieldManager: manager, Force: force})
}

// liveHTTP is the VirtualService's spec.http as it is now.
func (s *service) liveHTTP() []any {
	s.t.Helper()
	u, err := dyn.Resource(standin.VirtualServiceGVR).Namespace(s.ns).Get(context.Background(), serviceName, metav1.GetOptions{})
	must(s.t, err)
	http, ok, err := unstructured.NestedSlice(u.Object, "spec", "http")
	if err != nil || !ok {
		s.t.Fatalf("live spec.http: %v (found %v)", err, ok)
	}
	return http
}

// holds fails the test if cond stops holding within d.
func (s *service) holds(d time.Duration, what string, cond func(*sluicev1alpha1.TrafficShift) bool) {
	s.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		ts := s.waitTS(time.Second, what, func(*sluicev1alpha1.TrafficShift) bool { return true })
		if !cond(ts) {
			s.t.Fatalf("%s: phase %s weight %d, last decision %+v", what, ts.Status.Phase, ts.Status.Weight, ts.Status.LastDecision)
		}
	}
}
