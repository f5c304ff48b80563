package faults

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// The edits TestConcurrentEdits makes as a user would, each a pure function of the
// object and the edit's number n (1, 2, …), so that the last edit can be applied again to
// check that an object still carries it whole.

// editKey counts the edits an object took (annotation), and on Services labels it too.
const editKey = "edits.sluice.test/count"

// editCount is the edit counter in annotations (0 when absent or unreadable).
func editCount(ann map[string]string) int {
	n, _ := strconv.Atoi(ann[editKey])
	return n
}

// serviceEdit sets the counter, a label, an unrelated annotation and the guard's
// thresholds, alternating between two values that a healthy canary never reaches.
func serviceEdit(svc *corev1.Service, n int) {
	if svc.Annotations == nil {
		svc.Annotations = map[string]string{}
	}
	if svc.Labels == nil {
		svc.Labels = map[string]string{}
	}
	svc.Annotations[editKey] = strconv.Itoa(n)
	svc.Labels[editKey] = strconv.Itoa(n)
	svc.Annotations["example.com/owner"] = fmt.Sprintf("team-%d", n%7)
	svc.Annotations["sluice.dev/max-error-rate"] = []string{"5%", "10%"}[n%2]
	svc.Annotations["sluice.dev/max-latency-p99"] = []string{"2s", "3s"}[n%2]
}

// virtualServiceEdit sets the counter and the managed route's timeout, retries and
// request headers, and puts an unrelated route (to ratings, on a header) before it on odd
// edits, removing it on even ones.
func virtualServiceEdit(u *unstructured.Unstructured, n int) error {
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[editKey] = strconv.Itoa(n)
	u.SetAnnotations(ann)
	http, _, err := unstructured.NestedSlice(u.Object, "spec", "http")
	if err != nil {
		return fmt.Errorf("VirtualService %s: %w", u.GetName(), err)
	}
	http = slices.DeleteFunc(http, isEditRoute)
	if len(http) != 1 {
		return fmt.Errorf("VirtualService %s: %d http routes besides the edits' one, want the managed route alone", u.GetName(), len(http))
	}
	r, ok := http[0].(map[string]any)
	if !ok {
		return fmt.Errorf("VirtualService %s: http route is a %T", u.GetName(), http[0])
	}
	r["timeout"] = fmt.Sprintf("%dms", 1000+n)
	r["retries"] = map[string]any{"attempts": int64(n%5 + 1), "perTryTimeout": "2s"}
	r["headers"] = map[string]any{"request": map[string]any{"set": map[string]any{"x-edit": strconv.Itoa(n)}}}
	if n%2 == 1 {
		http = append([]any{editRoute(n)}, http...)
	}
	return unstructured.SetNestedSlice(u.Object, http, "spec", "http")
}

// editRoute sends requests carrying header x-edits: n to ratings.
func editRoute(n int) map[string]any {
	return map[string]any{
		"name":  "edits",
		"match": []any{map[string]any{"headers": map[string]any{"x-edits": map[string]any{"exact": strconv.Itoa(n)}}}},
		"route": []any{map[string]any{"destination": map[string]any{"host": "ratings"}}},
	}
}

func isEditRoute(r any) bool {
	m, ok := r.(map[string]any)
	return ok && m["name"] == "edits"
}

func isConflict(err error) bool { return apierrors.IsConflict(err) }

// phaseLog records, from one watch of every TrafficShift, each phase and decision reason
// the edited Services' TrafficShifts took, and any weight outside the schedule.
type phaseLog struct {
	mu     sync.Mutex
	seen   map[string]map[string]int // namespace → "phase reason" → events
	bad    []string
	closed bool
}

// watchPhases starts the log; it stops when the test ends.
func watchPhases(t *testing.T) *phaseLog {
	t.Helper()
	w, err := dyn.Resource(tsGVR).Watch(t.Context(), metav1.ListOptions{})
	scenario.Must(t, err)
	t.Cleanup(w.Stop)
	l := &phaseLog{seen: map[string]map[string]int{}}
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
	phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
	why, _, _ := unstructured.NestedString(u.Object, "status", "lastDecision", "reason")
	w, _, _ := unstructured.NestedInt64(u.Object, "status", "weight")
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[u.GetNamespace()] == nil {
		l.seen[u.GetNamespace()] = map[string]int{}
	}
	l.seen[u.GetNamespace()][phase+" "+why]++
	if w != 0 && !slices.Contains(schedule, int32(w)) {
		l.bad = append(l.bad, fmt.Sprintf("%s: status weight %d (resourceVersion %s)", u.GetNamespace(), w, u.GetResourceVersion()))
	}
}

// check fails on a phase other than Idle, Progressing or Promoted, on a status weight
// off the schedule, on a namespace of svcs never seen Promoted, or on a watch that ended
// early; it logs how often each phase and reason was seen.
func (l *phaseLog) check(t *testing.T, svcs []*edited) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		t.Errorf("the TrafficShift watch ended before the checks")
	}
	for _, b := range l.bad {
		t.Errorf("%s", b)
	}
	total := map[string]int{}
	for ns, seen := range l.seen {
		for k, n := range seen {
			total[k] += n
			switch sluicev1alpha1.Phase(strings.Fields(k + " ")[0]) {
			case "", sluicev1alpha1.PhaseIdle, sluicev1alpha1.PhaseProgressing, sluicev1alpha1.PhasePromoted:
			default:
				t.Errorf("%s: TrafficShift phase and reason %q", ns, k)
			}
		}
	}
	for _, e := range svcs {
		if !slices.ContainsFunc(keys(l.seen[e.NS]), func(k string) bool { return strings.HasPrefix(k, string(sluicev1alpha1.PhasePromoted)) }) {
			t.Errorf("%s: the TrafficShift watch never saw Promoted", e.NS)
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
