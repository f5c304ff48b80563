package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

var nsCounter atomic.Int32

// schedule is the default policy's canary weights.
var schedule = []int32{5, 25, 50, 100}

// rollout is one namespace with the reviews Service, its DestinationRule (v1, v2, v3) and
// VirtualService (v1 alone), and stand-in pods (v1 ×2, v2 ×2) whose traffic follows the
// VirtualService; every watch event of the VirtualService is recorded.
type rollout struct {
	t     *testing.T
	ctx   context.Context
	ns    string
	svc   string
	fleet *standin.Fleet
	vs    *vswatch.Log
}

// destinationRule and virtualService are the namespace's routing objects.
const (
	destinationRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`
	virtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`
)

// healthy is how both subsets answer unless a test says otherwise.
var healthy = standin.SubsetBehaviour{ErrorRate: 0.001, LatencyP50: 10 * time.Millisecond, LatencyP99: 40 * time.Millisecond}

// newRollout builds the namespace; rate is the stand-in traffic's total request rate.
func newRollout(t *testing.T, name string, rate float64) *rollout {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := nsCounter.Add(1)
	r := &rollout{t: t, ctx: ctx, ns: fmt.Sprintf("faults-%s-%d", name, n), svc: "reviews"}
	must(t, env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}}))
	must(t, env.Client.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: r.svc, Namespace: r.ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": r.svc},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}},
		},
	}))
	r.create(destinationRule)
	r.create(virtualService)
	fleet, err := standin.Start(ctx, standin.Config{
		Client: kube, Dynamic: dyn, Namespace: r.ns, Service: r.svc, VirtualService: r.svc,
		Rate: rate, IPPrefix: fmt.Sprintf("127.42.%d.", n), Seed: uint64(n),
	})
	must(t, err)
	r.fleet = fleet
	for _, v := range []string{"v1", "v2"} {
		fleet.SetBehaviour(v, healthy)
		_, err := fleet.AddPods(ctx, v, map[string]string{"app": r.svc, "version": v}, 2)
		must(t, err)
	}
	r.vs, err = vswatch.Watch(ctx, dyn, r.ns, r.svc, r.svc)
	must(t, err)
	t.Cleanup(func() {
		fleet.Stop()
		cancel()
		_ = env.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: r.ns}})
	})
	return r
}

// create creates one routing object (YAML) in the namespace.
func (r *rollout) create(doc string) {
	r.t.Helper()
	var obj client.Object = &networkingv1.VirtualService{}
	if strings.Contains(doc, "kind: DestinationRule") {
		obj = &networkingv1.DestinationRule{}
	}
	data, err := yaml.YAMLToJSON([]byte(doc))
	must(r.t, err)
	must(r.t, json.Unmarshal(data, obj))
	obj.SetNamespace(r.ns)
	must(r.t, env.Client.Create(r.ctx, obj))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// annotate merges annotations into the Service; an empty value removes the key.
func (r *rollout) annotate(kv map[string]string) {
	r.t.Helper()
	ann := map[string]any{}
	for k, v := range kv {
		ann[k] = v
		if v == "" {
			ann[k] = nil
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	must(r.t, err)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: r.svc, Namespace: r.ns}}
	must(r.t, env.Client.Patch(r.ctx, svc, client.RawPatch(types.MergePatchType, patch)))
}

// ts reads the TrafficShift; nil when it is absent or cannot be read.
func (r *rollout) ts() *sluicev1alpha1.TrafficShift {
	ts := &sluicev1alpha1.TrafficShift{}
	if err := env.Client.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: r.svc}, ts); err != nil {
		return nil
	}
	return ts
}

// waitTS polls the TrafficShift until cond holds, failing with the last status after timeout.
func (r *rollout) waitTS(timeout time.Duration, what string, cond func(*sluicev1alpha1.TrafficShift) bool) *sluicev1alpha1.TrafficShift {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ts := r.ts()
		if ts != nil && cond(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out after %s waiting for %s; TrafficShift status: %s", timeout, what, statusJSON(ts))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func statusJSON(ts *sluicev1alpha1.TrafficShift) string {
	if ts == nil {
		return "<no TrafficShift>"
	}
	b, _ := json.MarshalIndent(ts.Status, "", "  ")
	return string(b)
}

func phaseIs(p sluicev1alpha1.Phase) func(*sluicev1alpha1.TrafficShift) bool {
	return func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == p }
}

func weightIs(w int32) func(*sluicev1alpha1.TrafficShift) bool {
	return func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == w
	}
}

// weights are the default route's weights of the VirtualService as stored now.
func (r *rollout) weights() map[string]int32 {
	r.t.Helper()
	vs := &networkingv1.VirtualService{}
	must(r.t, env.Client.Get(r.ctx, client.ObjectKey{Namespace: r.ns, Name: r.svc}, vs))
	return standin.DefaultRouteWeights(vs, r.ns, r.svc)
}

// waitEvent waits for an Event regarding an object of kind with reason whose note
// contains substr.
func (r *rollout) waitEvent(kind string, timeout time.Duration, reason, substr string) eventsv1.Event {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		list := &eventsv1.EventList{}
		must(r.t, env.Client.List(r.ctx, list, client.InNamespace(r.ns)))
		var seen []string
		for _, e := range list.Items {
			if e.Regarding.Kind != kind {
				continue
			}
			if e.Reason == reason && strings.Contains(e.Note, substr) {
				return e
			}
			seen = append(seen, e.Reason+": "+e.Note)
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s Event on a %s containing %q within %s; events: %q", reason, kind, substr, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkInvariants checks every VirtualService watch event recorded so far against the
// routing invariants for the v1 → v2 rollout, and that there were at least min events.
func (r *rollout) checkInvariants(min int) {
	r.t.Helper()
	evs := r.vs.Events()
	inv := vswatch.Invariants{Namespace: r.ns, Service: r.svc, Stable: "v1", Canary: "v2", Schedule: schedule}
	if bad := inv.Check(evs); len(bad) > 0 {
		r.t.Fatalf("%d of %d VirtualService watch events break the invariants:\n%s", len(bad), len(evs), strings.Join(bad, "\n"))
	}
	if len(evs) < min {
		r.t.Fatalf("only %d VirtualService watch events recorded, want at least %d", len(evs), min)
	}
	r.t.Logf("invariants hold on all %d VirtualService watch events", len(evs))
}

// canaryWeight is the canary's weight in the default route of vs (absent = 0).
func (r *rollout) canaryWeight(vs *networkingv1.VirtualService) int32 {
	return standin.DefaultRouteWeights(vs, r.ns, r.svc)["v2"]
}

// canarySeq fails unless the canary's distinct weights were exactly want. It waits for
// the recording to catch up: after an API server restart the watch resumes only after the
// informer's backoff (up to about a minute).
func (r *rollout) canarySeq(want ...int32) {
	r.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := r.vs.CanarySeq("v2")
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			r.t.Fatalf("canary weight sequence %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quantile is the nearest-rank q-quantile of xs (sorted in place).
func quantile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	i := int(q*float64(len(xs))+0.999999) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}
