package faults

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// phaseLog records, from one watch of every TrafficShift, each phase and reason (the
// paused reason, else the last decision's) and each status weight the edited Services'
// TrafficShifts took.
type phaseLog struct {
	mu      sync.Mutex
	seen    map[string]map[string]int // namespace → "phase reason" → events
	weights map[string]map[int64]bool // namespace → status weights
	closed  bool
}

// watchPhases starts the log; it stops when the test ends.
func watchPhases(t *testing.T) *phaseLog {
	t.Helper()
	w, err := dyn.Resource(tsGVR).Watch(t.Context(), metav1.ListOptions{})
	scenario.Must(t, err)
	t.Cleanup(w.Stop)
	l := &phaseLog{seen: map[string]map[string]int{}, weights: map[string]map[int64]bool{}}
	go func() {
		for ev := range w.ResultChan() {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok && strings.HasPrefix(u.GetNamespace(), "faults-edits-") {
				l.add(u)
			}
		}
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
	}()
	return l
}

func (l *phaseLog) add(u *unstructured.Unstructured) {
	// Before its rollout starts a TrafficShift can be briefly Invalid while the cache has
	// not yet seen the DestinationRule created with the Service (SubsetNotFound, "looked
	// at none"): set-up, not an edit's doing.
	if started, _, _ := unstructured.NestedString(u.Object, "status", "rolloutStartedAt"); started == "" {
		return
	}
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	why, _, _ := unstructured.NestedString(u.Object, "status", "pausedReason")
	if why == "" {
		why, _, _ = unstructured.NestedString(u.Object, "status", "lastDecision", "reason")
	}
	w, _, _ := unstructured.NestedInt64(u.Object, "status", "weight")
	ns := u.GetNamespace()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[ns] == nil {
		l.seen[ns], l.weights[ns] = map[string]int{}, map[int64]bool{}
	}
	l.seen[ns][phase+" "+why]++
	l.weights[ns][w] = true
}

// check fails unless each of svcs's TrafficShifts took no phase but Idle, Progressing and
// its final one, which it reached, and no status weight but 0 and its schedule's, and the
// watch lasted; it logs how often each phase and reason was seen.
func (l *phaseLog) check(t *testing.T, svcs []*edited) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		t.Errorf("the TrafficShift watch ended before the checks")
	}
	total := map[string]int{}
	for _, e := range svcs {
		final, why := e.finalPhase()
		reached := false
		for k, n := range l.seen[e.NS] {
			total[k] += n
			phase, reason, _ := strings.Cut(k, " ")
			isFinal := sluicev1alpha1.Phase(phase) == final && (why == "" || reason == why)
			reached = reached || isFinal
			switch sluicev1alpha1.Phase(phase) {
			case "", sluicev1alpha1.PhaseIdle, sluicev1alpha1.PhaseProgressing:
			default:
				if !isFinal {
					t.Errorf("%s: TrafficShift phase and reason %q, want none but %s %s", e.NS, k, final, why)
				}
			}
		}
		if !reached {
			t.Errorf("%s: the TrafficShift watch never saw %s %s", e.NS, final, why)
		}
		for w := range l.weights[e.NS] {
			if w != 0 && !slices.Contains(e.schedule(), int32(w)) {
				t.Errorf("%s: status weight %d, not 0 nor in %v", e.NS, w, e.schedule())
			}
		}
	}
	t.Logf("TrafficShift watch events by phase and reason, all edited Services: %s", describeCounts(total))
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func describeCounts(m map[string]int) string {
	ks := keys(m)
	sort.Strings(ks)
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = fmt.Sprintf("%q ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// patchFailures sums the controller's sluice_virtualservice_patch_failures_total over the
// edited Services' namespaces.
func patchFailures(t *testing.T) int {
	t.Helper()
	mfs, err := ctrlRun.Metrics.Gather()
	scenario.Must(t, err)
	n := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "sluice_virtualservice_patch_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "namespace" && strings.HasPrefix(lp.GetValue(), "faults-edits-") {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return int(n)
}
