package faults

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
)

const (
	// editors edit for editFor, each pausing editPause between edits.
	editors   = 8
	editFor   = 25 * time.Second
	editPause = 100 * time.Millisecond
)

// editRun counts what the editors did; the first error stops them all.
type editRun struct {
	edits, svcEdits, vsEdits, weightEdits, conflicts atomic.Int64
	failed                                           atomic.Pointer[error]
}

func (r *editRun) err() error {
	if p := r.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (r *editRun) fail(err error) { r.failed.CompareAndSwap(nil, &err) }

// runEditors runs the editors for editFor. Each goes round the Services from its own
// starting point, alternating between Service and VirtualService, so that every object is
// edited every few seconds, by turns by different editors, sometimes by two at once. One
// more moves the weights of the Services edited by hand.
func runEditors(svcs []*edited) *editRun {
	r := &editRun{}
	deadline := time.Now().Add(editFor)
	var wg sync.WaitGroup
	for g := range editors {
		wg.Go(func() {
			for k := 0; time.Now().Before(deadline) && r.err() == nil; k++ {
				if err := r.editOne(svcs[(g*len(svcs)/editors+k)%len(svcs)], (k+g)%2 == 0); err != nil {
					r.fail(err)
				}
				time.Sleep(editPause)
			}
		})
	}
	wg.Go(func() { r.moveWeights(svcs, deadline) })
	wg.Wait()
	return r
}

// editOne makes one edit of e's Service (svc) or VirtualService and records it.
func (r *editRun) editOne(e *edited, svc bool) error {
	edit, log, count := e.editVirtualService, &e.vsEds, &r.vsEdits
	if svc {
		edit, log, count = e.editService, &e.svcEdits, &r.svcEdits
	}
	if err := r.retry(e, edit); err != nil {
		return err
	}
	e.mu.Lock()
	*log = append(*log, time.Now())
	e.mu.Unlock()
	count.Add(1)
	r.edits.Add(1)
	return nil
}

// retry runs edit (read, change, update) again while it conflicts, at most 20 times.
func (r *editRun) retry(e *edited, edit func() error) error {
	for attempt := 1; ; attempt++ {
		err := edit()
		if err == nil {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == 20 {
			return fmt.Errorf("%s: %w", e.NS, err)
		}
		r.conflicts.Add(1)
	}
}

// moveWeights sets the weights of each Service edited by hand to the hand's, once its
// VirtualService, read from the API server, has the canary at 25 %. (Not from the
// VirtualService's watch log: on a loaded machine its events can come seconds late, and
// a hand edit after the promotion left the Service Promoted.)
func (r *editRun) moveWeights(svcs []*edited, deadline time.Time) {
	for time.Now().Before(deadline) && r.err() == nil {
		for _, e := range svcs {
			if !e.byHand || e.moved {
				continue
			}
			vs := &networkingv1.VirtualService{}
			if err := e.Env.Client.Get(context.WithoutCancel(e.Ctx), client.ObjectKey{Namespace: e.NS, Name: e.Svc}, vs); err != nil {
				r.fail(fmt.Errorf("%s: reading the VirtualService: %w", e.NS, err))
				return
			}
			if standin.DefaultRouteWeights(vs, e.NS, e.Svc)["v2"] != 25 {
				continue
			}
			if err := r.retry(e, e.editWeights); err != nil {
				r.fail(err)
				return
			}
			e.moved = true
			r.weightEdits.Add(1)
			r.edits.Add(1)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	return e.updateVS(func(u *unstructured.Unstructured) error {
		return virtualServiceEdit(u, editCount(u.GetAnnotations())+1)
	})
}

// editWeights reads the VirtualService and sets the managed route's weights to the hand's.
func (e *edited) editWeights() error {
	return e.updateVS(func(u *unstructured.Unstructured) error {
		return setWeights(u, map[string]int64{"v1": 100 - handWeight, "v2": handWeight})
	})
}

func (e *edited) updateVS(change func(*unstructured.Unstructured) error) error {
	res := dyn.Resource(standin.VirtualServiceGVR).Namespace(e.NS)
	u, err := res.Get(context.WithoutCancel(e.Ctx), e.Svc, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if err := change(u); err != nil {
		return err
	}
	_, err = res.Update(context.WithoutCancel(e.Ctx), u, metav1.UpdateOptions{})
	return err
}

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

// setWeights sets the weight of each destination of the managed route whose subset w names.
func setWeights(u *unstructured.Unstructured, w map[string]int64) error {
	http, _, err := unstructured.NestedSlice(u.Object, "spec", "http")
	if err != nil {
		return fmt.Errorf("VirtualService %s: %w", u.GetName(), err)
	}
	i := slices.IndexFunc(http, func(r any) bool { return !isEditRoute(r) })
	var dests []any
	if i >= 0 {
		r, _ := http[i].(map[string]any)
		dests, _ = r["route"].([]any)
	}
	if len(dests) != len(w) {
		return fmt.Errorf("VirtualService %s: no managed route with a destination for each of %v", u.GetName(), w)
	}
	for _, d := range dests {
		dm, ok := d.(map[string]any)
		if !ok {
			return fmt.Errorf("VirtualService %s: destination is a %T", u.GetName(), d)
		}
		subset, _, _ := unstructured.NestedString(dm, "destination", "subset")
		dm["weight"] = w[subset]
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
