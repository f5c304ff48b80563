package e2e

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Issue 15, latency at any quantile: a canary whose p95 goes over a p95 limit while its
// p99 stays under the p99 limit is rolled back with reason Latency and a message naming
// p95, whether the p95 limit comes from sluice.dev/max-latency or from a ShiftPolicy's
// guard.maxLatency; the same canary under the p99 limit alone is promoted.
func TestP95LatencyFaultRolledBack(t *testing.T) {
	const p99Limit, p95Limit = time.Second, 100 * time.Millisecond
	policy := &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-p95"},
		Spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{
			MaxLatencyP99: &metav1.Duration{Duration: p99Limit},
			MaxLatency:    &sluicev1alpha1.LatencyLimit{Quantile: 0.95, Limit: metav1.Duration{Duration: p95Limit}},
		}},
	}
	scenario.Must(t, env.Client.Create(context.Background(), policy))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })

	// Healthy: p50 20 ms, p99 80 ms. Slow: log-normal with p50 40 ms and p99 400 ms, so p95
	// ≈ 200 ms (18 % of requests over 100 ms against the 5 % a p95 of 100 ms allows) while
	// only 0.06 % take over 1 s (a p99 limit of 1 s allows 1 %).
	healthy := standin.SubsetBehaviour{LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond}
	slow := standin.SubsetBehaviour{LatencyP50: 40 * time.Millisecond, LatencyP99: 400 * time.Millisecond}
	p99Only := map[string]string{"sluice.dev/max-latency-p99": p99Limit.String()}
	variants := []struct {
		name     string
		ann      map[string]string
		rollback bool
		quantile string
	}{
		{name: "annotation", ann: map[string]string{"sluice.dev/max-latency-p99": p99Limit.String(), "sluice.dev/max-latency": "p95=" + p95Limit.String()}, rollback: true, quantile: "0.95"},
		{name: "policy", ann: map[string]string{"sluice.dev/policy": policy.Name}, rollback: true, quantile: "0.95"},
		{name: "p99 only", ann: p99Only, quantile: "0.99"},
	}
	type run struct {
		s      *rollout
		fault  time.Time
		weight func(time.Time) (time.Time, bool)
		seq    func() []int32
	}
	runs := make([]run, len(variants))
	for i, v := range variants {
		s := newRollout(t, "p95-"+strings.ReplaceAll(v.name, " ", "-"), 200, "")
		wl := s.WatchWeights("reviews")
		s.Fleet.SetBehaviour("v1", healthy)
		s.Fleet.SetBehaviour("v2", healthy)
		ann := fastRollout("v2")
		// 20 s at 25 %: every variant is still there when its fault starts.
		ann["sluice.dev/steps"] = "5,25:20s,50,100"
		for k, val := range v.ann {
			ann[k] = val
		}
		s.Annotate(ann)
		runs[i] = run{s: s, weight: func(f time.Time) (time.Time, bool) { return wl.FirstAfter(f, "v2", 0) },
			seq: func() []int32 { return wl.CanarySeq("v2") }}
	}
	// The fault starts at the 25 % step in each, once the step holds traffic.
	for i := range runs {
		r := &runs[i]
		r.s.WaitTS(30*time.Second, "step 2 (25 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
		r.fault = time.Now()
		r.s.Fleet.SetBehaviour("v2", slow)
	}

	for i, v := range variants {
		r := runs[i]
		if !v.rollback {
			continue
		}
		ts := r.s.WaitTS(20*time.Second, v.name+": RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
		zeroAt, ok := r.weight(r.fault)
		if !ok {
			t.Fatalf("%s: no VirtualService event with canary weight 0 after the fault; seq %v", v.name, r.seq())
		}
		t.Logf("%s: p95 fault → canary weight 0 (VirtualService watch event): %s", v.name, zeroAt.Sub(r.fault).Round(time.Millisecond))
		d := ts.Status.LastDecision
		if d == nil || d.Reason != "Latency" || !strings.Contains(d.Message, "canary p95 ") || !strings.Contains(d.Message, "limit 100ms") ||
			strings.Contains(d.Message, "p99") {
			t.Fatalf("%s: want a Latency rollback naming p95 and its limit only: %s", v.name, scenario.StatusJSON(ts))
		}
		t.Logf("%s: %s", v.name, d.Message)
		w := ts.Status.Window
		if w == nil || w.Canary == nil || w.Stable == nil || w.Canary.Quantile != v.quantile || w.Stable.Quantile != v.quantile {
			t.Fatalf("%s: the status window must show quantile %s for both subsets: %s", v.name, v.quantile, scenario.StatusJSON(ts))
		}
		if c := millis(t, w.Canary.LatencyMillis); c <= 100 {
			t.Fatalf("%s: canary p95 in the status %q, want above the 100 ms limit: %s", v.name, w.Canary.LatencyMillis, scenario.StatusJSON(ts))
		}
		if s := millis(t, w.Stable.LatencyMillis); s >= 100 {
			t.Fatalf("%s: stable p95 in the status %q, want under 100 ms: %s", v.name, w.Stable.LatencyMillis, scenario.StatusJSON(ts))
		}
		if p99 := millis(t, w.Canary.P99Millis); p99 >= float64(p99Limit.Milliseconds()) {
			t.Fatalf("%s: canary p99 %q should stay under the p99 limit: %s", v.name, w.Canary.P99Millis, scenario.StatusJSON(ts))
		}
		if got := r.s.Weights("reviews"); len(got) != 1 || got["v1"] != 100 {
			t.Fatalf("%s: after rollback the route must hold v1 alone at 100, got %v", v.name, got)
		}
		r.s.WaitEvent("TrafficShift", 5*time.Second, "RolledBack", "canary p95")
	}

	// The control: the same slow canary, judged at p99 only, is promoted.
	ctl := runs[2]
	ts := ctl.s.WaitTS(45*time.Second, "p99 only: Promoted", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhasePromoted || ts.Status.Phase == sluicev1alpha1.PhaseRolledBack
	})
	if ts.Status.Phase != sluicev1alpha1.PhasePromoted {
		t.Fatalf("p99 only: the slow canary must not be rolled back: %s", scenario.StatusJSON(ts))
	}
	if seq := ctl.seq(); !slices.Equal(seq, []int32{0, 5, 25, 50, 100}) {
		t.Fatalf("p99 only: canary weight sequence %v, want [0 5 25 50 100]", seq)
	}
	w := ts.Status.Window
	if w == nil || w.Canary == nil || w.Canary.Quantile != "0.99" || w.Canary.LatencyMillis != w.Canary.P99Millis {
		t.Fatalf("p99 only: the status window must show the default quantile 0.99 as p99: %s", scenario.StatusJSON(ts))
	}
	t.Logf("p99 only: promoted %s after the fault; canary p99 %s ms (limit %s)", time.Since(ctl.fault).Round(time.Millisecond), w.Canary.P99Millis, p99Limit)
}

// millis reads a status latency in milliseconds.
func millis(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("status latency %q is not a number: %v", s, err)
	}
	return v
}
