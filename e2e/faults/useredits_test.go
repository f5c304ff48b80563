package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

const (
	// editedServices roll out at once while editors change them and their VirtualServices.
	editedServices = 100
	// Every weightEditEvery-th Service also gets its weights moved by hand, to 100 −
	// handWeight / handWeight, once sluice has it at 25 %.
	weightEditEvery = 25
	handWeight      = 40
	// editedRate is each Service's stand-in traffic (one v1 and one v2 pod): 3 canary
	// requests a second at 5 %, enough for min-requests 5 within a step.
	editedRate = 60
)

// editedRollout is a rollout whose steps pass while the edits go on (4 steps of 4 s at
// most, ~0.6 ticks per rollout per second at 100 rollouts).
var editedRollout = map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
	"sluice.dev/steps": "5:4s,25:4s,50:4s,100:2s", "sluice.dev/min-requests": "5"}

// 100 Services roll out while 8 goroutines edit them and their VirtualServices the way
// kubectl edit or a GitOps tool does (read, change, Update with the resourceVersion read,
// again on conflict): unrelated annotations and a label, the guard thresholds
// (sluice.dev/max-error-rate and max-latency-p99, read on every tick), and every field of
// the managed route but its destinations (timeout, retries, headers), plus an unrelated
// route inserted before it or removed, which moves the managed route's index under
// sluice's patches. Four of the Services also get their weights moved by hand (60/40).
// Nothing is lost: each object ends carrying its last edit and an edit counter equal to
// the edits that succeeded; every VirtualService watch event satisfies the invariants;
// every rollout passes 0, 5, 25, 50, 100 with no step lost or skipped and ends Promoted
// with no write pending, except the four, which pause (ExternalWeightChange) at 60/40
// and stay there; no TrafficShift takes any other phase (no pause, Invalid or rollback).
func TestConcurrentEdits(t *testing.T) {
	svcs := buildEdited(t)
	phases := watchPhases(t)
	for _, e := range svcs {
		e.Annotate(editedRollout)
	}
	started := time.Now()
	ed := runEditors(svcs)
	editsEnd := time.Now()
	if err := ed.err(); err != nil {
		t.Fatalf("an editor failed: %v", err)
	}
	inFlight := countInFlight(t, svcs)
	waitAllSettled(t, svcs, 60*time.Second)
	t.Logf("%d Services: %d edits in %s (%d Service, %d VirtualService, %d of the weights; %d conflicts retried by the editors); "+
		"%d rollouts not edited by hand still under way when the edits stopped; all settled %s after the start",
		len(svcs), ed.edits.Load(), editFor, ed.svcEdits.Load(), ed.vsEdits.Load(), ed.weightEdits.Load(), ed.conflicts.Load(),
		inFlight, time.Since(started).Round(100*time.Millisecond))
	t.Logf("sluice's VirtualService patches refused by a concurrent edit (and retried): %d", patchFailures(t))
	for _, e := range svcs {
		e.checkEditsKept(t)
		e.checkRollout(t)
		e.checkEditedMidRollout(t, editsEnd)
	}
	phases.check(t, svcs)
}

// edited is one of the Services under edit, with its VirtualService's watch log and the
// edits that succeeded on each object (with when, to tell which came mid-rollout).
type edited struct {
	*scenario.Scenario
	vs *vswatch.Log
	// byHand: this Service's weights are moved by hand; moved says they were.
	byHand, moved bool

	mu              sync.Mutex
	svcEdits, vsEds []time.Time
}

// buildEdited builds the namespaces, 8 at a time.
func buildEdited(t *testing.T) []*edited {
	t.Helper()
	out := make([]*edited, editedServices)
	var g errgroup.Group
	g.SetLimit(8)
	for i := range out {
		spec := rolloutSpec("edits", editedRate, 1)
		g.Go(func() error {
			s, err := scenario.Build(clients, spec)
			if err != nil {
				return err
			}
			out[i] = &edited{Scenario: s, byHand: i%weightEditEvery == 0}
			out[i].vs, err = vswatch.Watch(s.Ctx, dyn, s.NS, s.Svc, s.Svc)
			return err
		})
	}
	err := g.Wait()
	for _, e := range out {
		if e != nil {
			e.T = t
			t.Cleanup(e.Close)
			t.Cleanup(e.deleteService)
		}
	}
	scenario.Must(t, err)
	return out
}

// deleteService ends sluice's work on the Service (the paused rollouts would tick on
// after the test: the test API server runs no namespace controller to empty the deleted
// namespace).
func (e *edited) deleteService() {
	_ = e.Env.Client.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: e.NS, Name: e.Svc}})
}

// The state each Service ends in: Promoted, v2 alone; or for those whose weights were
// moved by hand, paused at the hand's weights.
func (e *edited) finalPhase() (sluicev1alpha1.Phase, string) {
	if e.byHand {
		return sluicev1alpha1.PhasePaused, "ExternalWeightChange"
	}
	return sluicev1alpha1.PhasePromoted, ""
}

func (e *edited) finalWeights() map[string]int32 {
	if e.byHand {
		return map[string]int32{"v1": 100 - handWeight, "v2": handWeight}
	}
	return map[string]int32{"v2": 100}
}

// schedule is the canary weights its routes may carry: the rollout's, and the hand's.
func (e *edited) schedule() []int32 {
	if e.byHand {
		return append(slices.Clone(schedule), handWeight)
	}
	return schedule
}

// waitAllSettled lists the TrafficShifts until every one of svcs is in its final phase.
func waitAllSettled(t *testing.T, svcs []*edited, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		phases := map[string]sluicev1alpha1.Phase{}
		list := &sluicev1alpha1.TrafficShiftList{}
		scenario.Must(t, env.Client.List(t.Context(), list))
		for _, ts := range list.Items {
			phases[ts.Namespace] = ts.Status.Phase
		}
		var left []string
		for _, e := range svcs {
			if want, _ := e.finalPhase(); phases[e.NS] != want {
				left = append(left, fmt.Sprintf("%s: %q, want %q (weights moved by hand: %t)", e.NS, phases[e.NS], want, e.moved))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rollouts not settled within %s of the edits' end: %s", len(left), timeout, strings.Join(left, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// countInFlight counts the rollouts not edited by hand whose canary is between 0 and 100 now.
func countInFlight(t *testing.T, svcs []*edited) int {
	t.Helper()
	n := 0
	for _, e := range svcs {
		if w := e.Weights(e.Svc)["v2"]; !e.byHand && w > 0 && w < 100 {
			n++
		}
	}
	return n
}

// checkEditsKept fails unless the Service and the VirtualService each carry as many
// edits as succeeded on them, and their last edit whole: applying it again changes nothing.
func (e *edited) checkEditsKept(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	svcN, vsN := len(e.svcEdits), len(e.vsEds)
	e.mu.Unlock()
	svc := &corev1.Service{}
	scenario.Must(t, env.Client.Get(t.Context(), client.ObjectKey{Namespace: e.NS, Name: e.Svc}, svc))
	again := svc.DeepCopy()
	serviceEdit(again, svcN)
	if got := editCount(svc.Annotations); got != svcN || !equality.Semantic.DeepEqual(again.ObjectMeta, svc.ObjectMeta) {
		t.Errorf("%s: Service carries edit %d of %d (annotations %v, labels %v)", e.NS, got, svcN, svc.Annotations, svc.Labels)
	}
	u, err := dyn.Resource(standin.VirtualServiceGVR).Namespace(e.NS).Get(t.Context(), e.Svc, metav1.GetOptions{})
	scenario.Must(t, err)
	uAgain := u.DeepCopy()
	scenario.Must(t, virtualServiceEdit(uAgain, vsN))
	if got := editCount(u.GetAnnotations()); got != vsN || !equality.Semantic.DeepEqual(uAgain.Object, u.Object) {
		t.Errorf("%s: VirtualService carries edit %d of %d; spec %v", e.NS, got, vsN, u.Object["spec"])
	}
}

// checkRollout fails unless the canary took the rollout's weights in order, none skipped
// (then the hand's), every VirtualService watch event kept the invariants, and the
// rollout ended in its final phase and weights with no write pending.
func (e *edited) checkRollout(t *testing.T) {
	t.Helper()
	got := e.vs.CanarySeq("v2")
	ok := slices.Equal(got, []int32{0, 5, 25, 50, 100})
	if e.byHand { // moved at 25 %, or at 50 % when sluice had just advanced
		ok = slices.Equal(got, []int32{0, 5, 25, handWeight}) || slices.Equal(got, []int32{0, 5, 25, 50, handWeight})
	}
	if !ok {
		t.Errorf("%s: canary weight sequence %v", e.NS, got)
	}
	inv := vswatch.Invariants{Namespace: e.NS, Service: e.Svc, Stable: "v1", Canary: "v2", Schedule: e.schedule()}
	if bad := inv.Check(e.vs.Events()); len(bad) > 0 {
		t.Errorf("%s: %d of %d VirtualService watch events break the invariants:\n%s", e.NS, len(bad), len(e.vs.Events()), strings.Join(bad, "\n"))
	}
	if w := e.Weights(e.Svc); !maps.Equal(w, e.finalWeights()) {
		t.Errorf("%s: final route %v, want %v", e.NS, w, e.finalWeights())
	}
	ts := e.TS()
	phase, why := e.finalPhase()
	if ts == nil || ts.Status.Phase != phase || ts.Status.PausedReason != why || ts.Status.PendingWrite != nil ||
		(phase == sluicev1alpha1.PhasePromoted && (ts.Status.Stable != "v2" || len(ts.Status.History) != 1)) {
		t.Errorf("%s: final status, want %s %s: %s", e.NS, phase, why, scenario.StatusJSON(ts))
	}
}

// checkEditedMidRollout fails unless both objects took an edit while the rollout was
// under way: from the canary's first weight to its last (by the watch's times of those
// writes), or for a Service edited by hand, to the end of the edits.
func (e *edited) checkEditedMidRollout(t *testing.T, editsEnd time.Time) {
	t.Helper()
	last := e.finalWeights()["v2"]
	first, ok1 := e.vs.FirstAbove(time.Time{}, "v2")
	done, ok2 := e.vs.FirstAfter(time.Time{}, "v2", last)
	if !ok1 || !ok2 {
		t.Errorf("%s: the watch log has no rollout to %d %%", e.NS, last)
		return
	}
	if e.byHand {
		done = editsEnd
	}
	during := func(ts []time.Time) int {
		return len(slices.DeleteFunc(slices.Clone(ts), func(at time.Time) bool { return at.Before(first) || at.After(done) }))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if during(e.svcEdits) == 0 || during(e.vsEds) == 0 {
		t.Errorf("%s: edits during the rollout (%s to %s): Service %d of %d, VirtualService %d of %d", e.NS,
			first.Format("15:04:05.000"), done.Format("15:04:05.000"), during(e.svcEdits), len(e.svcEdits), during(e.vsEds), len(e.vsEds))
	}
}
