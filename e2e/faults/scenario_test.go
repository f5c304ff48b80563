package faults

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
)

var nsCounter atomic.Int32

// schedule is the default policy's canary weights.
var schedule = []int32{5, 25, 50, 100}

// rollout is one namespace with the reviews Service, its DestinationRule (v1, v2, v3) and
// VirtualService (v1 alone), and stand-in pods (v1 ×2, v2 ×2) whose traffic follows the
// VirtualService; every watch event of the VirtualService is recorded.
type rollout struct {
	*scenario.Scenario
	vs *vswatch.Log
}

// healthy is how both subsets answer unless a test says otherwise.
var healthy = standin.SubsetBehaviour{ErrorRate: 0.001, LatencyP50: 10 * time.Millisecond, LatencyP99: 40 * time.Millisecond}

// newRollout builds the namespace; rate is the stand-in traffic's total request rate.
func newRollout(t *testing.T, name string, rate float64) *rollout {
	t.Helper()
	s := scenario.New(t, clients, rolloutSpec(name, rate, 2))
	return &rollout{Scenario: s, vs: s.WatchWeights(s.Svc)}
}

// rolloutSpec is the namespace of newRollout with pods stand-ins in each of v1 and v2.
func rolloutSpec(name string, rate float64, pods int) scenario.Spec {
	n := nsCounter.Add(1)
	return scenario.Spec{
		Namespace: fmt.Sprintf("faults-%s-%d", name, n), Service: "reviews", Routing: scenario.Routing,
		Pods:      map[string]int{"v1": pods, "v2": pods},
		Behaviour: map[string]standin.SubsetBehaviour{"v1": healthy, "v2": healthy},
		Rate:      rate, IPPrefix: fmt.Sprintf("127.42.%d.", n), Seed: uint64(n),
	}
}

// checkInvariants checks every VirtualService watch event recorded so far against the
// routing invariants for the v1 → v2 rollout, and that there were at least min events.
func (r *rollout) checkInvariants(min int) {
	r.T.Helper()
	evs := r.vs.Events()
	inv := vswatch.Invariants{Namespace: r.NS, Service: r.Svc, Stable: "v1", Canary: "v2", Schedule: schedule}
	if bad := inv.Check(evs); len(bad) > 0 {
		r.T.Fatalf("%d of %d VirtualService watch events break the invariants:\n%s", len(bad), len(evs), strings.Join(bad, "\n"))
	}
	if len(evs) < min {
		r.T.Fatalf("only %d VirtualService watch events recorded, want at least %d", len(evs), min)
	}
	r.T.Logf("invariants hold on all %d VirtualService watch events", len(evs))
}

// canaryWeight is the canary's weight in the default route of vs (absent = 0).
func (r *rollout) canaryWeight(vs *networkingv1.VirtualService) int32 {
	return standin.DefaultRouteWeights(vs, r.NS, r.Svc)["v2"]
}

// canarySeq fails unless the canary's distinct weights were exactly want. It waits for
// the recording to catch up: after an API server restart the watch resumes only after the
// informer's backoff (up to about a minute).
func (r *rollout) canarySeq(want ...int32) {
	r.T.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		got := r.vs.CanarySeq("v2")
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			r.T.Fatalf("canary weight sequence %v, want %v", got, want)
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
