package faults

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// editors edit for editFor, each pausing editPause between edits.
	editors   = 8
	editFor   = 25 * time.Second
	editPause = 100 * time.Millisecond
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
// sluice's patches. Nothing is lost: each object ends carrying its last edit and an edit
// counter equal to the edits that succeeded; every VirtualService watch event satisfies the
// invariants; every rollout passes 0, 5, 25, 50, 100 with no step lost or skipped and ends
// Promoted with no write pending; no TrafficShift ever leaves Progressing for anything but
// Promoted (no pause, no Invalid, no rollback).
func TestConcurrentEdits(t *testing.T) {
	svcs := buildEdited(t)
	phases := watchPhases(t)
	for _, e := range svcs {
		e.Annotate(editedRollout)
	}
	started := time.Now()
	ed := runEditors(svcs, editFor)
	if err := ed.err(); err != nil {
		t.Fatalf("an editor failed: %v", err)
	}
	inFlight := countInFlight(t, svcs)
	waitAllPromoted(t, svcs, 60*time.Second)
	t.Logf("%d Services: %d edits in %s (%d Service, %d VirtualService; %d conflicts retried by the editors); "+
		"%d rollouts still under way when the edits stopped; all promoted %s after the start",
		len(svcs), ed.edits.Load(), editFor, ed.svcEdits.Load(), ed.vsEdits.Load(), ed.conflicts.Load(),
		inFlight, time.Since(started).Round(100*time.Millisecond))
	t.Logf("sluice's VirtualService patches refused by a concurrent edit (and retried): %d", patchFailures(t))
	for _, e := range svcs {
		e.checkEditsKept(t)
		e.checkRollout(t)
		e.checkEditedMidRollout(t)
	}
	phases.check(t, svcs)
}

// edited is one of the Services under edit, with its VirtualService's watch log and the
// edits that succeeded on each object (with when, to tell which came mid-rollout).
type edited struct {
	*scenario.Scenario
	vs *vswatch.Log

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
			out[i] = &edited{Scenario: s}
			out[i].vs, err = vswatch.Watch(s.Ctx, dyn, s.NS, s.Svc, s.Svc)
			return err
		})
	}
	err := g.Wait()
	for _, e := range out {
		if e != nil {
			e.T = t
			t.Cleanup(e.Close)
		}
	}
	scenario.Must(t, err)
	return out
}

// editRun counts what the editors did; the first error stops them all.
type editRun struct {
	edits, svcEdits, vsEdits, conflicts atomic.Int64
	failed                              atomic.Pointer[error]
}

func (r *editRun) err() error {
	if p := r.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// runEditors runs the editors for d. Each goes round the Services from its own starting
// point, alternating between Service and VirtualService, so that every object is edited
// every few seconds, by turns by different editors, sometimes by two at once.
func runEditors(svcs []*edited, d time.Duration) *editRun {
	r := &editRun{}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range editors {
		wg.Go(func() {
			for k := 0; time.Now().Before(deadline) && r.err() == nil; k++ {
				e := svcs[(g*len(svcs)/editors+k)%len(svcs)]
				if err := r.editOne(e, (k+g)%2 == 0); err != nil {
					r.failed.CompareAndSwap(nil, &err)
				}
				time.Sleep(editPause)
			}
		})
	}
	wg.Wait()
	return r
}

// editOne makes one edit of e's Service (svc) or VirtualService, reading again on
// conflict, and records it when it succeeded.
func (r *editRun) editOne(e *edited, svc bool) error {
	edit, log, count := e.editVirtualService, &e.vsEds, &r.vsEdits
	if svc {
		edit, log, count = e.editService, &e.svcEdits, &r.svcEdits
	}
	for attempt := 1; ; attempt++ {
		err := edit()
		if err == nil {
			break
		}
		if !isConflict(err) || attempt == 20 {
			return fmt.Errorf("%s: %w", e.NS, err)
		}
		r.conflicts.Add(1)
	}
	e.mu.Lock()
	*log = append(*log, time.Now())
	e.mu.Unlock()
	count.Add(1)
	r.edits.Add(1)
	return nil
}

// editService reads the Service and updates it with its next edit.
func (e *edited) editService() error {
	svc := &corev1.Service{}
	if err := e.Env.Client.Get(e.Ctx, client.ObjectKey{Namespace: e.NS, Name: e.Svc}, svc); err != nil {
		return err
	}
	serviceEdit(svc, editCount(svc.Annotations)+1)
	return e.Env.Client.Update(e.Ctx, svc)
}

// editVirtualService reads the VirtualService as kubectl does (unstructured, every field
// kept as stored) and updates it with its next edit.
func (e *edited) editVirtualService() error {
	res := dyn.Resource(standin.VirtualServiceGVR).Namespace(e.NS)
	u, err := res.Get(e.Ctx, e.Svc, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if err := virtualServiceEdit(u, editCount(u.GetAnnotations())+1); err != nil {
		return err
	}
	_, err = res.Update(e.Ctx, u, metav1.UpdateOptions{})
	return err
}

// waitAllPromoted lists the TrafficShifts until every one of svcs is Promoted.
func waitAllPromoted(t *testing.T, svcs []*edited, timeout time.Duration) {
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
			if phases[e.NS] != sluicev1alpha1.PhasePromoted {
				left = append(left, fmt.Sprintf("%s: %q", e.NS, phases[e.NS]))
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rollouts not promoted within %s of the edits' end: %s", len(left), timeout, strings.Join(left, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// countInFlight counts the rollouts whose canary is between 0 and 100 now.
func countInFlight(t *testing.T, svcs []*edited) int {
	t.Helper()
	n := 0
	for _, e := range svcs {
		if w := e.Weights(e.Svc)["v2"]; w > 0 && w < 100 {
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

// checkRollout fails unless the rollout passed every step once, ended Promoted with v2
// alone and nothing pending, and every VirtualService watch event kept the invariants.
func (e *edited) checkRollout(t *testing.T) {
	t.Helper()
	if got, want := e.vs.CanarySeq("v2"), []int32{0, 5, 25, 50, 100}; !slices.Equal(got, want) {
		t.Errorf("%s: canary weight sequence %v, want %v", e.NS, got, want)
	}
	inv := vswatch.Invariants{Namespace: e.NS, Service: e.Svc, Stable: "v1", Canary: "v2", Schedule: schedule}
	if bad := inv.Check(e.vs.Events()); len(bad) > 0 {
		t.Errorf("%s: %d of %d VirtualService watch events break the invariants:\n%s", e.NS, len(bad), len(e.vs.Events()), strings.Join(bad, "\n"))
	}
	if w := e.Weights(e.Svc); !maps.Equal(w, map[string]int32{"v2": 100}) {
		t.Errorf("%s: promoted route %v, want v2 alone", e.NS, w)
	}
	ts := e.TS()
	if ts == nil || ts.Status.Stable != "v2" || ts.Status.PendingWrite != nil || len(ts.Status.History) != 1 ||
		ts.Status.History[0].Result != sluicev1alpha1.PhasePromoted {
		t.Errorf("%s: status after the promotion: %s", e.NS, scenario.StatusJSON(ts))
	}
}

// checkEditedMidRollout fails unless both objects took an edit while the canary was
// between 0 and 100 (by the watch's times of sluice's writes): the edits raced the rollout.
func (e *edited) checkEditedMidRollout(t *testing.T) {
	t.Helper()
	first, ok1 := e.vs.FirstAbove(time.Time{}, "v2")
	done, ok2 := e.vs.FirstAfter(time.Time{}, "v2", 100)
	if !ok1 || !ok2 {
		t.Errorf("%s: no rollout in the watch log", e.NS)
		return
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
