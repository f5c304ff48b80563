package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Istio's Bookinfo layout, as its guide deploys it: the DestinationRules of
// destination-rule-all.yaml (productpage given a v2 subset, the release under test), the
// in-mesh VirtualServices of virtual-service-all-v1.yaml, and, when gateway is set, the
// gateway-bound VirtualService of bookinfo-gateway.yaml, whose routes send to productpage
// without a subset.
func bookinfoRouting(t *testing.T, gateway bool) string {
	t.Helper()
	dr := fixture(t, "destination-rule-all.yaml")
	withV2 := strings.Replace(dr, "  host: productpage\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n",
		"  host: productpage\n  subsets:\n  - name: v1\n    labels:\n      version: v1\n  - name: v2\n    labels:\n      version: v2\n", 1)
	if withV2 == dr {
		t.Fatal("destination-rule-all.yaml: productpage's subsets not found")
	}
	out := withV2 + "\n---\n" + fixture(t, "virtual-service-all-v1.yaml")
	if gateway {
		out += "\n---\n" + fixture(t, "bookinfo-gateway.yaml")
	}
	return out
}

// ignored returns the status's entry for an ignored VirtualService.
func ignored(ts *sluicev1alpha1.TrafficShift, name string) (sluicev1alpha1.IgnoredVirtualService, bool) {
	i := slices.IndexFunc(ts.Status.IgnoredVirtualServices, func(ig sluicev1alpha1.IgnoredVirtualService) bool { return ig.Name == name })
	if i < 0 {
		return sluicev1alpha1.IgnoredVirtualService{}, false
	}
	return ts.Status.IgnoredVirtualServices[i], true
}

// Issue 11: with the gateway VirtualService beside the in-mesh one, a healthy release is
// promoted; the gateway VirtualService is reported as bypassing and never written.
func TestBookinfoGatewayHealthyRolloutPromoted(t *testing.T) {
	s := newRolloutFor(t, "bookinfo", "productpage", 200, bookinfoRouting(t, true))
	gateway := s.VSRaw("bookinfo")
	s.Annotate(fastRollout("v2"))
	ts := s.WaitTS(40*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if got := s.Weights("productpage"); len(got) != 1 || got["v2"] != 100 {
		t.Fatalf("productpage after promotion: %v, want v2 alone", got)
	}
	if string(s.VSRaw("bookinfo")) != string(gateway) {
		t.Fatalf("the gateway VirtualService changed:\nbefore %s\nafter  %s", gateway, s.VSRaw("bookinfo"))
	}
	ig, ok := ignored(ts, "bookinfo")
	if !ok || !strings.Contains(ig.Reason, "http[0]") || !strings.Contains(ig.Reason, "without a subset") {
		t.Fatalf("bookinfo not reported as ignored with its route and why: %s", scenario.StatusJSON(ts))
	}
	if !slices.Equal(ts.Status.VirtualServices, []string{"productpage"}) {
		t.Fatalf("managed VirtualServices %v, want [productpage]", ts.Status.VirtualServices)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "VirtualServicesIgnored", "bookinfo (http[0]")
	s.WaitEvent("TrafficShift", 5*time.Second, "RoutesBypassShift", "bookinfo http[0]")
}

// Issue 11: a failing canary is rolled back within the usual bound while the gateway
// VirtualService is present.
func TestBookinfoGatewayBadCanaryRolledBack(t *testing.T) {
	s := newRolloutFor(t, "bookinfo-bad", "productpage", 200, bookinfoRouting(t, true))
	gateway := s.VSRaw("bookinfo")
	wl := s.WatchWeights("productpage")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(30*time.Second, "step 2 (25 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	fault := time.Now()
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 1})
	ts := s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 3*time.Second)
	if ts.Status.LastDecision == nil || ts.Status.LastDecision.Reason != "ErrorRate" || ts.Status.PendingWrite != nil {
		t.Fatalf("rolled-back status: %s", scenario.StatusJSON(ts))
	}
	if string(s.VSRaw("bookinfo")) != string(gateway) {
		t.Fatal("the gateway VirtualService changed")
	}
}

// Issue 11: the gateway VirtualService appears in the middle of a rollout; it is picked
// up (reported) on the next tick, and the rollback that follows is not blocked by it.
func TestGatewayVirtualServiceAddedMidRollout(t *testing.T) {
	s := newRolloutFor(t, "bookinfo-late", "productpage", 200, bookinfoRouting(t, false))
	wl := s.WatchWeights("productpage")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(30*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	s.Apply(fixture(t, "bookinfo-gateway.yaml"))
	gateway := s.VSRaw("bookinfo")
	ts := s.WaitTS(5*time.Second, "gateway reported", func(ts *sluicev1alpha1.TrafficShift) bool { _, ok := ignored(ts, "bookinfo"); return ok })
	if ts.Status.Phase != sluicev1alpha1.PhaseProgressing {
		t.Fatalf("the new gateway VirtualService disturbed the rollout: %s", scenario.StatusJSON(ts))
	}
	fault := time.Now()
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 1})
	s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 3*time.Second)
	if string(s.VSRaw("bookinfo")) != string(gateway) {
		t.Fatal("the gateway VirtualService changed")
	}
}

// Issue 11: two in-mesh VirtualServices, one of which an admission policy keeps refusing.
// The rollback writes the other at once, reports the refusing one (status, Event) and
// writes it as soon as it accepts.
func TestRollbackWritesEveryVirtualServiceItCan(t *testing.T) {
	edge := "\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: productpage-edge}\nspec:\n  hosts: [productpage.example.com]\n  http:\n  - timeout: 3s\n    route:\n    - destination: {host: productpage, subset: v1, port: {number: 9080}}\n"
	s := newRolloutFor(t, "refuse", "productpage", 200, bookinfoRouting(t, false)+edge)
	wl := s.WatchWeights("productpage")
	edgeLog := s.WatchWeights("productpage-edge")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(30*time.Second, "step 2 (25 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	if w := s.Weights("productpage-edge"); w["v2"] != 25 {
		t.Fatalf("productpage-edge at step 2: %v", w)
	}
	s.freeze("productpage-edge")

	fault := time.Now()
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 1})
	assertZeroWithin(t, wl, fault, "v2", 3*time.Second)
	ts := s.WaitTS(10*time.Second, "RolledBack with a pending write", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseRolledBack && ts.Status.PendingWrite != nil
	})
	p := ts.Status.PendingWrite
	if p.Action != "Rollback" || len(p.Failures) != 1 || p.Failures[0].VirtualService != "productpage-edge" || !strings.Contains(p.Failures[0].Message, "frozen by e2e") {
		t.Fatalf("pending write: %s", scenario.StatusJSON(ts))
	}
	if w := s.Weights("productpage-edge"); w["v2"] != 25 {
		t.Fatalf("the refusing VirtualService was written: %v", w)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "WriteFailed", "productpage-edge")
	// Retried with backoff, never given up: still pending a few seconds on.
	time.Sleep(3 * time.Second)
	if ts := s.TS(); ts.Status.PendingWrite == nil || ts.Status.PendingWrite.Attempts < 3 {
		t.Fatalf("the pending write is not being retried: %s", scenario.StatusJSON(ts))
	}

	thaw := time.Now()
	s.thaw("productpage-edge")
	zero, ok := edgeLog.FirstAfter(thaw, "v2", 0)
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); zero, ok = edgeLog.FirstAfter(thaw, "v2", 0) {
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("productpage-edge never took the rollback; seq %v", edgeLog.CanarySeq("v2"))
	}
	t.Logf("refusal lifted → productpage-edge rolled back: %s", zero.Sub(thaw).Round(time.Millisecond))
	ts = s.WaitTS(10*time.Second, "no pending write", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.PendingWrite == nil })
	if c := findCondition(ts, sluicev1alpha1.ConditionRoutesWritten); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("RoutesWritten not True once converged: %s", scenario.StatusJSON(ts))
	}
	if w := s.Weights("productpage-edge"); len(w) != 1 || w["v1"] != 100 {
		t.Fatalf("productpage-edge after the retry: %v", w)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "RoutesWritten", "Rollback write reached every VirtualService")
	var spec struct {
		HTTP []struct {
			Timeout string `json:"timeout"`
		} `json:"http"`
	}
	scenario.Must(t, json.Unmarshal(s.VSRaw("productpage-edge"), &spec))
	if spec.HTTP[0].Timeout != "3s" {
		t.Fatalf("the retry lost the route's timeout: %s", s.VSRaw("productpage-edge"))
	}
}

// assertZeroWithin fails unless the VirtualService watch saw the canary at 0 within
// bound of the fault.
func assertZeroWithin(t *testing.T, wl interface {
	FirstAfter(time.Time, string, int32) (time.Time, bool)
	CanarySeq(string) []int32
}, fault time.Time, canary string, bound time.Duration) {
	t.Helper()
	var zeroAt time.Time
	ok := false
	for deadline := time.Now().Add(bound + 2*time.Second); !ok && time.Now().Before(deadline); {
		if zeroAt, ok = wl.FirstAfter(fault, canary, 0); !ok {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !ok {
		t.Fatalf("no VirtualService event with canary weight 0 after the fault; seq %v", wl.CanarySeq(canary))
	}
	took := zeroAt.Sub(fault)
	t.Logf("fault → canary weight 0 (VirtualService watch event): %s", took.Round(time.Millisecond))
	if took > bound {
		t.Fatalf("rollback took %s, want ≤ %s", took, bound)
	}
}

const freezeAnnotation = "e2e.sluice.dev/freeze"

// freeze makes the API server refuse every update of VirtualService name while it carries
// the freeze annotation (a ValidatingAdmissionPolicy, as an admission webhook would),
// and waits until the refusal is in force.
func (s *rollout) freeze(name string) {
	s.T.Helper()
	policy := &admissionv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: s.NS + "-freeze"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"}, Resources: []string{"virtualservices"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf(`!(has(oldObject.metadata.annotations) && %[1]q in oldObject.metadata.annotations && has(object.metadata.annotations) && %[1]q in object.metadata.annotations)`, freezeAnnotation),
				Message:    "VirtualService is frozen by e2e.sluice.dev/freeze",
			}},
		},
	}
	binding := &admissionv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: s.NS + "-freeze"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
			MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": s.NS}}},
		},
	}
	scenario.Must(s.T, env.Client.Create(s.Ctx, policy))
	scenario.Must(s.T, env.Client.Create(s.Ctx, binding))
	s.T.Cleanup(func() {
		_ = env.Client.Delete(context.Background(), binding)
		_ = env.Client.Delete(context.Background(), policy)
	})
	s.annotateVS(name, map[string]any{freezeAnnotation: "true"})
	// In force once an update that keeps the annotation is refused.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := s.patchVS(name, map[string]any{"e2e.sluice.dev/probe": time.Now().String()})
		if err != nil && strings.Contains(err.Error(), "frozen by e2e") {
			return
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("the freeze policy is not in force after 20s (last update: %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// thaw removes the freeze annotation, which the policy allows.
func (s *rollout) thaw(name string) {
	s.T.Helper()
	s.annotateVS(name, map[string]any{freezeAnnotation: nil})
}

func (s *rollout) annotateVS(name string, ann map[string]any) {
	s.T.Helper()
	scenario.Must(s.T, s.patchVS(name, ann))
}

func (s *rollout) patchVS(name string, ann map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	vs := s.VS(name)
	return env.Client.Patch(s.Ctx, vs, client.RawPatch(types.MergePatchType, patch))
}

// Issue 11: a step whose write one VirtualService refuses is not left half-applied: the
// VirtualServices that took it are set back, the status and an Event say so, and the
// step is taken as soon as every VirtualService accepts it.
func TestStepWriteUndoneWhenAVirtualServiceRefuses(t *testing.T) {
	edge := "\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: productpage-edge}\nspec:\n  hosts: [productpage.example.com]\n  http:\n  - route:\n    - destination: {host: productpage, subset: v1}\n"
	s := newRolloutFor(t, "undo", "productpage", 200, bookinfoRouting(t, false)+edge)
	wl := s.WatchWeights("productpage")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(30*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	s.freeze("productpage-edge")
	ts := s.WaitTS(15*time.Second, "the step's write undone", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.LastDecision != nil && ts.Status.LastDecision.Reason == "StepWriteUndone"
	})
	if ts.Status.Weight != 5 || ts.Status.Step != 1 || ts.Status.Phase != sluicev1alpha1.PhaseProgressing {
		t.Fatalf("a refused step moved the status: %s", scenario.StatusJSON(ts))
	}
	msg := ts.Status.LastDecision.Message
	for _, frag := range []string{"canary weight 25 (step 2)", "productpage-edge", "frozen by e2e", "productpage set back to weight 5"} {
		if !strings.Contains(msg, frag) {
			t.Fatalf("the undo's message %q lacks %q", msg, frag)
		}
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "StepWriteUndone", "productpage-edge")
	// The step is tried again every tick, so productpage may be mid-attempt now; what its
	// watch must show is the step taken and set back: 25 then 5.
	seq := wl.CanarySeq("v2")
	undone := false
	for i := 1; i < len(seq); i++ {
		undone = undone || (seq[i-1] == 25 && seq[i] == 5)
	}
	if !undone {
		t.Fatalf("productpage's canary weights %v never went 25 → 5: the undo did not happen", seq)
	}
	s.thaw("productpage-edge")
	ts = s.WaitTS(15*time.Second, "step 2 on both", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	for _, vs := range []string{"productpage", "productpage-edge"} {
		if w := s.Weights(vs); w["v2"] != 25 {
			t.Fatalf("%s at step 2: %v", vs, w)
		}
	}
	if c := findCondition(ts, sluicev1alpha1.ConditionRoutesWritten); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("RoutesWritten not back to True: %s", scenario.StatusJSON(ts))
	}
}

func findCondition(ts *sluicev1alpha1.TrafficShift, typ string) *metav1.Condition {
	for i := range ts.Status.Conditions {
		if ts.Status.Conditions[i].Type == typ {
			return &ts.Status.Conditions[i]
		}
	}
	return nil
}
