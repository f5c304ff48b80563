package scenario

import (
	"encoding/json"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Annotate merges annotations into the Service; an empty value removes the key.
func (s *Scenario) Annotate(kv map[string]string) {
	s.T.Helper()
	ann := map[string]any{}
	for k, v := range kv {
		ann[k] = v
		if v == "" {
			ann[k] = nil
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	Must(s.T, err)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: s.Svc, Namespace: s.NS}}
	Must(s.T, s.Env.Client.Patch(s.Ctx, svc, client.RawPatch(types.MergePatchType, patch)))
}

// TS reads the TrafficShift; nil when it is absent or cannot be read.
func (s *Scenario) TS() *sluicev1alpha1.TrafficShift {
	ts := &sluicev1alpha1.TrafficShift{}
	if err := s.Env.Client.Get(s.Ctx, client.ObjectKey{Namespace: s.NS, Name: s.Svc}, ts); err != nil {
		return nil
	}
	return ts
}

// WaitTS polls the TrafficShift until cond holds, failing with the last status after timeout.
func (s *Scenario) WaitTS(timeout time.Duration, what string, cond func(*sluicev1alpha1.TrafficShift) bool) *sluicev1alpha1.TrafficShift {
	s.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ts := s.TS()
		if ts != nil && cond(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("timed out after %s waiting for %s; TrafficShift status: %s", timeout, what, StatusJSON(ts))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// StatusJSON is ts's status, indented, for failure messages.
func StatusJSON(ts *sluicev1alpha1.TrafficShift) string {
	if ts == nil {
		return "<no TrafficShift>"
	}
	b, _ := json.MarshalIndent(ts.Status, "", "  ")
	return string(b)
}

// PhaseIs holds when the TrafficShift is in phase p.
func PhaseIs(p sluicev1alpha1.Phase) func(*sluicev1alpha1.TrafficShift) bool {
	return func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == p }
}

// WeightIs holds when the rollout progresses at canary weight w.
func WeightIs(w int32) func(*sluicev1alpha1.TrafficShift) bool {
	return func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == w
	}
}

// VSRaw returns the spec of VirtualService name exactly as the API server stores it.
func (s *Scenario) VSRaw(name string) []byte {
	s.T.Helper()
	u, err := s.Env.Dyn.Resource(standin.VirtualServiceGVR).Namespace(s.NS).Get(s.Ctx, name, metav1.GetOptions{})
	Must(s.T, err)
	spec, err := json.Marshal(u.Object["spec"])
	Must(s.T, err)
	return spec
}

// VS reads VirtualService name.
func (s *Scenario) VS(name string) *networkingv1.VirtualService {
	s.T.Helper()
	vs := &networkingv1.VirtualService{}
	Must(s.T, s.Env.Client.Get(s.Ctx, client.ObjectKey{Namespace: s.NS, Name: name}, vs))
	return vs
}

// Weights are the default route's weights of VirtualService name as stored now.
func (s *Scenario) Weights(name string) map[string]int32 {
	s.T.Helper()
	return standin.DefaultRouteWeights(s.VS(name), s.NS, s.Svc)
}

// EventsRegarding lists the namespace's Events regarding objects of kind.
func (s *Scenario) EventsRegarding(kind string) []eventsv1.Event {
	s.T.Helper()
	list := &eventsv1.EventList{}
	Must(s.T, s.Env.Client.List(s.Ctx, list, client.InNamespace(s.NS)))
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// WaitEvent waits for an Event regarding an object of kind with reason whose note
// contains substr.
func (s *Scenario) WaitEvent(kind string, timeout time.Duration, reason, substr string) eventsv1.Event {
	s.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var seen []string
		for _, e := range s.EventsRegarding(kind) {
			if e.Reason == reason && strings.Contains(e.Note, substr) {
				return e
			}
			seen = append(seen, e.Reason+": "+e.Note)
		}
		if time.Now().After(deadline) {
			s.T.Fatalf("no %s Event on a %s containing %q within %s; events: %q", reason, kind, substr, timeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WatchWeights records every watch event of VirtualService name (e2e/vswatch).
func (s *Scenario) WatchWeights(name string) *vswatch.Log {
	s.T.Helper()
	l, err := vswatch.Watch(s.Ctx, s.Env.Dyn, s.NS, name, s.Svc)
	Must(s.T, err)
	return l
}
