package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	apinetworking "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// standinScheduler is a scheduler nobody runs: the stand-in pods stay unscheduled, so
// the real kubelet never touches them, and their status is what the fleet sets.
const standinScheduler = "sluice-e2e-standin"

// shop is one namespace with Service svc (subsets v1, v2, v3 in its DestinationRule,
// the VirtualService at v1 alone) and stand-in pods serving Istio's stats on local
// addresses of the node's namespace, which sluice's pods reach through their gateway.
type shop struct {
	t       *testing.T
	ctx     context.Context
	ns, svc string
	fleet   *standin.Fleet
}

func newShop(t *testing.T, ns, svc, ipPrefix string) *shop {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &shop{t: t, ctx: ctx, ns: ns, svc: svc}
	must(t, crc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	// The ServiceAccount admission plugin refuses pods until the controller-manager has
	// made the namespace's default ServiceAccount.
	waitFor(t, 30*time.Second, "ServiceAccount "+ns+"/default", func() bool {
		_, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	must(t, crc.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": svc},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}},
		},
	}))
	must(t, crc.Create(ctx, destinationRule(ns, svc)))
	must(t, crc.Create(ctx, virtualService(ns, svc)))
	fleet, err := standin.Start(ctx, standin.Config{
		Client: kube, Dynamic: dyn, Namespace: ns, Service: svc, VirtualService: svc,
		Rate: 200, IPPrefix: ipPrefix, Seed: 17, SchedulerName: standinScheduler,
	})
	must(t, err)
	s.fleet = fleet
	for _, v := range []string{"v1", "v2", "v3"} {
		_, err := fleet.AddPods(ctx, v, map[string]string{"app": svc, "version": v}, 1)
		must(t, err)
	}
	t.Cleanup(func() {
		fleet.Stop()
		cancel()
		_ = crc.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return s
}

func destinationRule(ns, svc string) *networkingv1.DestinationRule {
	dr := &networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns}}
	dr.Spec.Host = svc
	for _, v := range []string{"v1", "v2", "v3"} {
		dr.Spec.Subsets = append(dr.Spec.Subsets, &apinetworking.Subset{Name: v, Labels: map[string]string{"version": v}})
	}
	return dr
}

func virtualService(ns, svc string) *networkingv1.VirtualService {
	vs := &networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns}}
	vs.Spec.Hosts = []string{svc}
	vs.Spec.Http = []*apinetworking.HTTPRoute{{Route: []*apinetworking.HTTPRouteDestination{
		{Destination: &apinetworking.Destination{Host: svc, Subset: "v1"}},
	}}}
	return vs
}

// annotate merges annotations into the Service.
func (s *shop) annotate(kv map[string]string) {
	s.t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": kv}})
	must(s.t, err)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: s.svc, Namespace: s.ns}}
	must(s.t, crc.Patch(s.ctx, svc, client.RawPatch(types.MergePatchType, patch)))
}

// release asks sluice to roll subset out with short steps.
func (s *shop) release(subset, stepDuration string) {
	s.annotate(map[string]string{
		"sluice.dev/enabled":       "true",
		"sluice.dev/canary":        subset,
		"sluice.dev/step-duration": stepDuration,
		"sluice.dev/min-requests":  "20",
	})
}

// waitPhase polls the TrafficShift until its phase is want (and its canary is canary).
func (s *shop) waitPhase(timeout time.Duration, want sluicev1alpha1.Phase, canary string) *sluicev1alpha1.TrafficShift {
	s.t.Helper()
	ts := &sluicev1alpha1.TrafficShift{}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		err := crc.Get(s.ctx, client.ObjectKey{Namespace: s.ns, Name: s.svc}, ts)
		if err == nil && ts.Status.Phase == want && ts.Status.Canary == canary {
			return ts
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, _ := json.Marshal(ts.Status)
	s.t.Fatalf("TrafficShift %s/%s not %s with canary %s within %s; status %s", s.ns, s.svc, want, canary, timeout, st)
	return nil
}

// weights is the VirtualService's weight per subset of the Service's host (a lone
// destination without a weight counts 100).
func (s *shop) weights() map[string]int32 {
	s.t.Helper()
	vs := &networkingv1.VirtualService{}
	must(s.t, crc.Get(s.ctx, client.ObjectKey{Namespace: s.ns, Name: s.svc}, vs))
	out := map[string]int32{}
	for _, r := range vs.Spec.Http {
		for _, d := range r.Route {
			w := d.Weight
			if w == 0 && len(r.Route) == 1 {
				w = 100
			}
			out[d.Destination.Subset] += w
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not within %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRolloutAndRollback: the sluice running in the node's Pods promotes a healthy
// canary through every step, then rolls a failing one back.
func TestRolloutAndRollback(t *testing.T) {
	requireNode(t, true)
	s := newShop(t, "shop", "reviews", "198.51.100.")
	healthy := standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond}
	for _, v := range []string{"v1", "v2"} {
		s.fleet.SetBehaviour(v, healthy)
	}
	s.fleet.SetBehaviour("v3", standin.SubsetBehaviour{ErrorRate: 0.5, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond})

	start := time.Now()
	s.release("v2", "2s")
	ts := s.waitPhase(90*time.Second, sluicev1alpha1.PhasePromoted, "v2")
	t.Logf("v2 promoted %s after the release", time.Since(start).Round(time.Millisecond))
	if ts.Status.Stable != "v2" || ts.Status.Weight != 100 {
		t.Fatalf("promoted status: stable %q weight %d", ts.Status.Stable, ts.Status.Weight)
	}
	if got := s.weights(); len(got) != 1 || got["v2"] != 100 {
		t.Fatalf("after promotion the route must hold v2 alone at 100, got %v", got)
	}

	start = time.Now()
	s.release("v3", "2s")
	ts = s.waitPhase(60*time.Second, sluicev1alpha1.PhaseRolledBack, "v3")
	t.Logf("v3 (50%% errors) rolled back %s after the release", time.Since(start).Round(time.Millisecond))
	if ts.Status.Stable != "v2" || ts.Status.Weight != 0 || ts.Status.LastDecision == nil || ts.Status.LastDecision.Reason != "ErrorRate" {
		st, _ := json.Marshal(ts.Status)
		t.Fatalf("rolled-back status: %s", st)
	}
	if got := s.weights(); len(got) != 1 || got["v2"] != 100 {
		t.Fatalf("after the rollback the route must hold v2 alone at 100, got %v", got)
	}
	if n, _ := s.fleet.Served("v3"); n == 0 {
		t.Fatal("v3 never received traffic: the rollback was not judged on its requests")
	}
	fmt.Println() // keep -v output readable between tests
}
