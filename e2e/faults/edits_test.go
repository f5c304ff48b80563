package faults

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// holdAt25 keeps a rollout at its 25 % step until the test moves it.
var holdAt25 = map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
	"sluice.dev/steps": "5:1s,25:5m,50,100", "sluice.dev/min-requests": "20"}

// The VirtualService deleted mid-rollout: there is no route left to write, so sluice marks
// the Service Invalid (NoVirtualService) with a Warning Event and writes nothing. When the
// VirtualService comes back as GitOps would re-create it (stable alone), the rollout starts
// over from its first step; the weights it had are never written back by themselves.
func TestVirtualServiceDeletedMidRollout(t *testing.T) {
	r := newRollout(t, "vsdeleted", 200)
	r.Annotate(holdAt25)
	r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))

	scenario.Must(t, env.Client.Delete(r.Ctx, &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Namespace: r.NS, Name: r.Svc}}))
	ts := r.WaitTS(10*time.Second, "Invalid", scenario.PhaseIs(sluicev1alpha1.PhaseInvalid))
	if d := ts.Status.LastDecision; d == nil || d.Reason != "NoVirtualService" {
		t.Fatalf("status after the VirtualService was deleted: %s", scenario.StatusJSON(ts))
	}
	r.WaitEvent("TrafficShift", 5*time.Second, "NoVirtualService", "no VirtualService")
	r.WaitEvent("Service", 5*time.Second, "NoVirtualService", "no VirtualService")

	back := time.Now()
	r.Apply(scenario.VirtualService)
	r.WaitTS(30*time.Second, "the rollout started over, at 25 % again", func(ts *sluicev1alpha1.TrafficShift) bool {
		return scenario.WeightIs(25)(ts) && ts.Status.RolloutStartedAt != nil && ts.Status.RolloutStartedAt.After(back.Add(-time.Second))
	})
	r.canarySeq(0, 5, 25, 0, 5, 25)
	r.checkInvariants(6)
}

// The canary's subset removed from the DestinationRule mid-rollout: routes to it would fail
// every request, so its traffic goes back to stable at once (rolled back, reason
// CanarySubsetRemoved, Warning Event), then the Service is Invalid (SubsetNotFound) until
// the subset is back or the annotation names another. Measured: DestinationRule update →
// canary weight 0.
func TestCanarySubsetRemovedMidRollout(t *testing.T) {
	r := newRollout(t, "subsetgone", 200)
	r.Annotate(holdAt25)
	r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))

	dr := &networkingv1.DestinationRule{}
	scenario.Must(t, env.Client.Get(r.Ctx, client.ObjectKey{Namespace: r.NS, Name: r.Svc}, dr))
	subsets := dr.Spec.Subsets[:0]
	for _, s := range dr.Spec.Subsets {
		if s.Name != "v2" {
			subsets = append(subsets, s)
		}
	}
	dr.Spec.Subsets = subsets
	removed := time.Now()
	scenario.Must(t, env.Client.Update(r.Ctx, dr))
	zero, ok := r.pollCanaryZero(removed, 10*time.Second)
	if !ok {
		t.Fatalf("canary still routed after its subset was removed: %v", r.Weights(r.Svc))
	}
	t.Logf("DestinationRule subset removed → canary weight 0: %s (n=1)", zero.Sub(removed).Round(time.Millisecond))
	if w := r.Weights(r.Svc); len(w) != 1 || w["v1"] != 100 {
		t.Fatalf("route after the rollback: %v, want v1 alone at 100", w)
	}
	r.WaitEvent("TrafficShift", 5*time.Second, "RolledBack", "CanarySubsetRemoved")
	ts := r.WaitTS(10*time.Second, "Invalid after the rollback", scenario.PhaseIs(sluicev1alpha1.PhaseInvalid))
	if h := ts.Status.History; len(h) != 1 || h[0].Result != sluicev1alpha1.PhaseRolledBack || h[0].Reason != "CanarySubsetRemoved" {
		t.Fatalf("history: %s", scenario.StatusJSON(ts))
	}
	if d := ts.Status.LastDecision; d == nil || d.Reason != "SubsetNotFound" || ts.Status.Weight != 0 {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
	r.canarySeq(0, 5, 25, 0)
	r.checkInvariants(4)
}

var tsGVR = schema.GroupVersionResource{Group: "sluice.dev", Version: "v1alpha1", Resource: "trafficshifts"}

// The opt-in removed mid-rollout: the traffic goes back to stable first, then the
// TrafficShift's status says the rollout ended (RolledBack, reason OptedOut), then it is
// deleted. The order is checked by resourceVersion (etcd's revision: one counter for every
// write) on the watch events of the VirtualService and of the TrafficShift.
func TestOptOutMidRollout(t *testing.T) {
	r := newRollout(t, "optout", 200)
	r.Annotate(holdAt25)
	ts := r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))
	w, err := dyn.Resource(tsGVR).Namespace(r.NS).Watch(r.Ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + r.Svc, ResourceVersion: ts.ResourceVersion})
	scenario.Must(t, err)
	defer w.Stop()

	r.Annotate(map[string]string{"sluice.dev/enabled": ""})
	var endedRV, deletedRV int64
	deadline := time.After(15 * time.Second)
	for deletedRV == 0 {
		select {
		case ev := <-w.ResultChan():
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				continue
			}
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			why, _, _ := unstructured.NestedString(u.Object, "status", "lastDecision", "reason")
			switch {
			case ev.Type == watch.Deleted:
				deletedRV = rv(t, u.GetResourceVersion())
			case phase == string(sluicev1alpha1.PhaseRolledBack) && why == "OptedOut" && endedRV == 0:
				endedRV = rv(t, u.GetResourceVersion())
			}
		case <-deadline:
			t.Fatalf("the TrafficShift was not deleted within 15s of the opt-out; status %s", scenario.StatusJSON(r.TS()))
		}
	}
	if endedRV == 0 {
		t.Fatal("the TrafficShift was deleted without saying the rollout ended (RolledBack, OptedOut)")
	}
	zeroRV := int64(0)
	for _, ev := range r.vs.Events() {
		var vs networkingv1.VirtualService
		scenario.Must(t, json.Unmarshal(ev.Object, &vs))
		if zeroRV == 0 && ev.Type != watch.Deleted && r.canaryWeight(&vs) == 0 && rv(t, vs.ResourceVersion) > rv(t, ts.ResourceVersion) {
			zeroRV = rv(t, vs.ResourceVersion)
		}
	}
	if zeroRV == 0 || zeroRV > endedRV || endedRV > deletedRV {
		t.Fatalf("order of writes (resourceVersions): canary weight 0 at %d, TrafficShift says RolledBack at %d, deleted at %d; want them in that order", zeroRV, endedRV, deletedRV)
	}
	if got := r.Weights(r.Svc); len(got) != 1 || got["v1"] != 100 {
		t.Fatalf("route after the opt-out: %v", got)
	}
	r.WaitEvent("TrafficShift", 5*time.Second, "OptedOut", "all traffic returned")
	if err := env.Client.Get(r.Ctx, client.ObjectKey{Namespace: r.NS, Name: r.Svc}, &sluicev1alpha1.TrafficShift{}); !apierrors.IsNotFound(err) {
		t.Fatalf("TrafficShift still there after the opt-out: %v", err)
	}
	r.canarySeq(0, 5, 25, 0)
	r.checkInvariants(4)
}

// The TrafficShift deleted by hand mid-rollout: sluice creates it again and, finding the
// routes at a weight of the schedule for the canary the annotation names, adopts the
// rollout at that step (reason RolloutAdopted, a Warning Event) without moving a weight;
// the rollout then goes on to promotion. Only the deleted history is lost.
func TestTrafficShiftDeletedMidRollout(t *testing.T) {
	r := newRollout(t, "tsdeleted", 200)
	r.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
		"sluice.dev/steps": "5:1s,25:4s,50:2s,100:1s", "sluice.dev/min-requests": "20"})
	old := r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))

	scenario.Must(t, env.Client.Delete(r.Ctx, old))
	ts := r.WaitTS(10*time.Second, "a new TrafficShift adopting the rollout", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.UID != old.UID && ts.Status.Phase != ""
	})
	if c := meta.FindStatusCondition(ts.Status.Conditions, sluicev1alpha1.ConditionProgressing); c == nil || c.Reason != "RolloutAdopted" || ts.Status.Step != 2 || ts.Status.Weight != 25 ||
		ts.Status.Stable != "v1" || ts.Status.Canary != "v2" || ts.Status.Phase != sluicev1alpha1.PhaseProgressing {
		t.Fatalf("the new TrafficShift: %s", scenario.StatusJSON(ts))
	}
	r.WaitEvent("TrafficShift", 5*time.Second, "RolloutAdopted", "no rollout on record")
	ts = r.WaitTS(30*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if ts.Status.Stable != "v2" {
		t.Fatalf("promoted status: %s", scenario.StatusJSON(ts))
	}
	r.canarySeq(0, 5, 25, 50, 100)
	r.checkInvariants(5)
}

func rv(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	scenario.Must(t, err)
	return n
}
