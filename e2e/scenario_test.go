package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

var (
	nsCounter atomic.Int32
	vsGVR     = standin.VirtualServiceGVR
)

// scenario is one namespace with the reviews Service, its routing objects, two
// Deployments nothing runs, and stand-in pods whose traffic follows the VirtualService.
type scenario struct {
	t     *testing.T
	ctx   context.Context
	ns    string
	svc   string
	fleet *standin.Fleet
	pods  map[string][]*corev1.Pod // by subset
}

const reviewsRouting = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`

// newScenario builds the namespace; rate is the total request rate of the stand-in traffic.
func newScenario(t *testing.T, name string, rate float64, routing string) *scenario {
	t.Helper()
	return newScenarioFor(t, name, "reviews", rate, routing)
}

// newScenarioFor is newScenario for Service svc (selector app=svc, pods v1 ×2, v2 ×2, v3 ×1),
// following VirtualService svc.
func newScenarioFor(t *testing.T, name, svcName string, rate float64, routing string) *scenario {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := nsCounter.Add(1)
	s := &scenario{t: t, ctx: ctx, ns: fmt.Sprintf("e2e-%s-%d", name, n), svc: svcName}
	c := env.Client
	must(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}}))
	must(t, c.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.svc, Namespace: s.ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": svcName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}},
		},
	}))
	if routing == "" {
		routing = reviewsRouting
	}
	s.apply(routing)
	for _, v := range []string{"v1", "v2"} {
		must(t, c.Create(ctx, deployment(s.ns, svcName+"-"+v, svcName, v)))
	}
	fleet, err := standin.Start(ctx, standin.Config{
		Client: kube, Dynamic: dyn, Namespace: s.ns, Service: s.svc, VirtualService: s.svc,
		Rate: rate, IPPrefix: fmt.Sprintf("127.0.%d.", 10+n), Seed: uint64(n),
	})
	must(t, err)
	s.fleet = fleet
	s.pods = map[string][]*corev1.Pod{}
	for v, count := range map[string]int{"v1": 2, "v2": 2, "v3": 1} {
		pods, err := fleet.AddPods(ctx, v, map[string]string{"app": svcName, "version": v}, count)
		must(t, err)
		s.pods[v] = pods
	}
	t.Cleanup(func() {
		fleet.Stop()
		cancel()
		_ = env.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.ns}})
	})
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func deployment(ns, name, app, version string) *appsv1.Deployment {
	labels := map[string]string{"app": app, "version": version}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "example.invalid/" + app + ":" + version}}},
			},
		},
	}
}

// apply creates the YAML documents (Istio routing objects) in the scenario's namespace.
func (s *scenario) apply(docs string) {
	s.t.Helper()
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		must(s.t, yaml.Unmarshal([]byte(doc), &meta))
		var obj client.Object
		switch meta.Kind {
		case "VirtualService":
			obj = &networkingv1.VirtualService{}
		case "DestinationRule":
			obj = &networkingv1.DestinationRule{}
		case "Gateway":
			obj = &networkingv1.Gateway{}
		default:
			s.t.Fatalf("apply: unsupported kind %q", meta.Kind)
		}
		data, err := yaml.YAMLToJSON([]byte(doc))
		must(s.t, err)
		must(s.t, json.Unmarshal(data, obj))
		// Fixtures from Istio's samples use v1alpha3; the same spec serves as v1.
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		obj.SetNamespace(s.ns)
		obj.SetResourceVersion("")
		must(s.t, env.Client.Create(s.ctx, obj))
	}
}

// annotate merges annotations into the Service; an empty value removes the key.
func (s *scenario) annotate(kv map[string]string) {
	s.t.Helper()
	ann := map[string]any{}
	for k, v := range kv {
		if v == "" {
			ann[k] = nil
		} else {
			ann[k] = v
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	must(s.t, err)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: s.svc, Namespace: s.ns}}
	must(s.t, env.Client.Patch(s.ctx, svc, client.RawPatch(types.MergePatchType, patch)))
}

func (s *scenario) ts() *sluicev1alpha1.TrafficShift {
	ts := &sluicev1alpha1.TrafficShift{}
	if err := env.Client.Get(s.ctx, client.ObjectKey{Namespace: s.ns, Name: s.svc}, ts); err != nil {
		return nil
	}
	return ts
}

// waitTS polls the TrafficShift until cond holds, failing with the last status after timeout.
func (s *scenario) waitTS(timeout time.Duration, what string, cond func(*sluicev1alpha1.TrafficShift) bool) *sluicev1alpha1.TrafficShift {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ts := s.ts()
		if ts != nil && cond(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out after %s waiting for %s; TrafficShift status: %s", timeout, what, statusJSON(ts))
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

// vsRaw returns the VirtualService exactly as the API server stores it.
func (s *scenario) vsRaw(name string) []byte {
	s.t.Helper()
	u, err := dyn.Resource(vsGVR).Namespace(s.ns).Get(s.ctx, name, metav1.GetOptions{})
	must(s.t, err)
	spec, err := json.Marshal(u.Object["spec"])
	must(s.t, err)
	return spec
}

func (s *scenario) vs(name string) *networkingv1.VirtualService {
	s.t.Helper()
	vs := &networkingv1.VirtualService{}
	must(s.t, env.Client.Get(s.ctx, client.ObjectKey{Namespace: s.ns, Name: name}, vs))
	return vs
}

// weights are the default route's weights of VirtualService name.
func (s *scenario) weights(name string) map[string]int32 {
	return standin.DefaultRouteWeights(s.vs(name), s.ns, s.svc)
}

// events lists the Events sluice recorded about the TrafficShift, oldest first.
func (s *scenario) events() []eventsv1.Event { return s.eventsRegarding("TrafficShift") }

// eventsRegarding lists the namespace's Events regarding objects of kind.
func (s *scenario) eventsRegarding(kind string) []eventsv1.Event {
	s.t.Helper()
	list := &eventsv1.EventList{}
	must(s.t, env.Client.List(s.ctx, list, client.InNamespace(s.ns)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an Event regarding the TrafficShift with reason whose note contains substr.
func (s *scenario) waitEvent(timeout time.Duration, reason, substr string) eventsv1.Event {
	s.t.Helper()
	return s.waitEventOn("TrafficShift", timeout, reason, substr)
}

// waitEventOn waits for an Event regarding an object of kind with reason whose note
// contains substr.
func (s *scenario) waitEventOn(kind string, timeout time.Duration, reason, substr string) eventsv1.Event {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, e := range s.eventsRegarding(kind) {
			if e.Reason == reason && strings.Contains(e.Note, substr) {
				return e
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, e := range s.eventsRegarding(kind) {
				seen = append(seen, e.Reason+": "+e.Note)
			}
			s.t.Fatalf("no %s event on a %s containing %q within %s; events: %q", reason, kind, substr, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchWeights records the default route's weights of VirtualService name.
func (s *scenario) watchWeights(name string) *vswatch.Log {
	s.t.Helper()
	l, err := vswatch.Watch(s.ctx, dyn, s.ns, name, s.svc)
	must(s.t, err)
	return l
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
