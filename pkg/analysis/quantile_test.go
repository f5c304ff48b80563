package analysis

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

// TestLatencyAtQuantile: the latency rules at the guard's quantile (MaxLatency and the
// factor rule), at the edges of the quantiles a policy may choose.
func TestLatencyAtQuantile(t *testing.T) {
	bounds := []float64{10, 50, 100, 250, 500, 1000}
	// h builds a histogram from per-bucket counts (not cumulative; the rest is +Inf).
	h := func(per ...uint64) traffic.Histogram {
		hist := traffic.Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds))}
		var run uint64
		for i := range bounds {
			if i < len(per) {
				run += per[i]
			}
			hist.Counts[i] = run
		}
		hist.Count = run
		if len(per) > len(bounds) {
			hist.Count += per[len(bounds)]
		}
		return hist
	}
	withHist := func(s window.Stats, hist traffic.Histogram) window.Stats {
		s.Requests, s.Rq2xx, s.Rq5xx = hist.Count, hist.Count, 0
		s.Latency = hist
		s.P50, s.P99 = window.Quantile(hist, 0.5), window.Quantile(hist, 0.99)
		return s
	}
	// p95Slow: 1000 samples, 8 % in (100,250] and none above 250 ms. p95 ≈ 156 ms, p99 231 ms:
	// a p95 fault that a p99 limit of 300 ms does not see.
	p95Slow := h(880, 40, 0, 80)
	tests := map[string]struct {
		th         func(*Thresholds)
		canary     traffic.Histogram
		stable     *traffic.Histogram
		noHist     bool // the canary reports computed quantiles only
		wantAction Action
		wantReason string
		inMsg      string
		notInMsg   string
	}{
		"p95 over its limit trips, naming p95": {
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 100*time.Millisecond, 0.95 },
			canary: p95Slow, wantAction: Rollback, wantReason: reason.Latency,
			inMsg: "canary p95 156ms over 10s (1000 samples); limit 100ms; 80 of 1000 samples above it (evenly spread within buckets, 5.0% allowed), p95 above the limit at 99.9%", notInMsg: "p99",
		},
		"the same canary under a p99 limit of 300ms is not rolled back": {
			th:     func(th *Thresholds) { th.MaxLatencyP99 = 300 * time.Millisecond },
			canary: p95Slow, wantAction: Advance, wantReason: reason.StepComplete,
		},
		"with both limits the p95 one trips and the p99 one stays quiet": {
			th: func(th *Thresholds) {
				th.MaxLatencyP99, th.MaxLatency, th.LatencyQuantile = 300*time.Millisecond, 100*time.Millisecond, 0.95
			},
			canary: p95Slow, wantAction: Rollback, wantReason: reason.Latency, inMsg: "canary p95 156ms", notInMsg: "p99",
		},
		"p99 over its limit still trips when a p95 limit is set too": {
			th: func(th *Thresholds) {
				th.MaxLatencyP99, th.MaxLatency, th.LatencyQuantile = 200*time.Millisecond, time.Second, 0.95
			},
			canary: p95Slow, wantAction: Rollback, wantReason: reason.Latency, inMsg: "canary p99 231ms",
		},
		"p95 just over the limit is not significant": {
			// 60 of 1000 above 100 ms against 5 %: P ≈ 0.09.
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 100*time.Millisecond, 0.95 },
			canary: h(900, 40, 0, 60), wantAction: Advance, wantReason: reason.StepComplete,
		},
		"p50: a median above the limit on 60 % of the samples trips": {
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 50*time.Millisecond, 0.5 },
			canary: h(100, 300, 600), wantAction: Rollback, wantReason: reason.Latency, inMsg: "canary p50",
		},
		"p50: 52 % above is not significant": {
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 50*time.Millisecond, 0.5 },
			canary: h(100, 380, 520), wantAction: Advance, wantReason: reason.StepComplete,
		},
		"p99.9: 8 of 1000 above the limit trip": {
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 500*time.Millisecond, 0.999 },
			canary: h(992, 0, 0, 0, 0, 8), wantAction: Rollback, wantReason: reason.Latency, inMsg: "canary p99.9",
		},
		"p99.9: 3 of 1000 above the limit do not": {
			// The point estimate (833 ms) is over the limit; P(X ≥ 3 | 1000, 0.001) ≈ 0.08.
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 500*time.Millisecond, 0.999 },
			canary: h(997, 0, 0, 0, 0, 3), wantAction: Advance, wantReason: reason.StepComplete,
		},
		"p99 through maxLatency: the lower of the two p99 limits applies": {
			th: func(th *Thresholds) {
				th.MaxLatencyP99, th.MaxLatency, th.LatencyQuantile = time.Second, 200*time.Millisecond, 0.99
			},
			canary: h(900, 0, 0, 0, 100), wantAction: Rollback, wantReason: reason.Latency, inMsg: "limit 200ms",
		},
		"factor at p95: canary p95 against stable p95 × 2": {
			th:     func(th *Thresholds) { th.LatencyFactor, th.LatencyQuantile = 2, 0.95 },
			canary: p95Slow, stable: ptrTo(h(2850, 150)),
			wantAction: Rollback, wantReason: reason.Latency, inMsg: "vs stable p95",
		},
		"factor at p95 ignores a slow stable p99": {
			// Stable's p95 is 49 ms: ×2 = 97 ms is under the canary's 156 ms. At p99 stable is
			// 375 ms and the canary's 231 ms is within × 2.
			th:     func(th *Thresholds) { th.LatencyFactor, th.LatencyQuantile = 2, 0.95 },
			canary: p95Slow, stable: ptrTo(h(2000, 880, 60, 0, 60)),
			wantAction: Rollback, wantReason: reason.Latency, inMsg: "stable p95 49ms",
		},
		"factor at p99 on the same subsets does not trip": {
			th:     func(th *Thresholds) { th.LatencyFactor = 2 },
			canary: p95Slow, stable: ptrTo(h(2000, 880, 60, 0, 60)),
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"factor at p99.9: stable from 999 samples is no reference": {
			th:     func(th *Thresholds) { th.LatencyFactor, th.LatencyQuantile = 2, 0.999 },
			canary: h(900, 0, 0, 100), stable: ptrTo(h(999)),
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"factor at p99.9: stable from 1000 samples is": {
			th:     func(th *Thresholds) { th.LatencyFactor, th.LatencyQuantile = 2, 0.999 },
			canary: h(900, 0, 0, 100), stable: ptrTo(h(1000)),
			wantAction: Rollback, wantReason: reason.Latency, inMsg: "stable p99.9",
		},
		"computed quantiles only: no p95, so no p95 trip": {
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 100*time.Millisecond, 0.95 },
			canary: p95Slow, noHist: true, wantAction: Advance, wantReason: reason.StepComplete,
		},
		"an unset quantile means p99": {
			th:     func(th *Thresholds) { th.MaxLatency, th.LatencyQuantile = 200*time.Millisecond, 0 },
			canary: p95Slow, wantAction: Rollback, wantReason: reason.Latency, inMsg: "canary p99 231ms",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			tc.th(&in.Thresholds)
			in.Canary = withHist(in.Canary, tc.canary)
			if tc.noHist {
				in.Canary.Latency = traffic.Histogram{}
			}
			if tc.stable != nil {
				in.Stable = withHist(in.Stable, *tc.stable)
			}
			d := Decide(in)
			assertDecision(t, d, tc.wantAction, tc.wantReason, tc.inMsg)
			if tc.notInMsg != "" && strings.Contains(d.Message, tc.notInMsg) {
				t.Fatalf("message %q names %q", d.Message, tc.notInMsg)
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestLatencyNoDataHolds: a canary without latency samples is never judged on latency, at
// any quantile: without requests the step holds, and requests without latency data trip
// nothing.
func TestLatencyNoDataHolds(t *testing.T) {
	tests := map[string]struct {
		requests   uint64
		wantAction Action
	}{
		"no requests: hold":                 {requests: 0, wantAction: Hold},
		"requests without latency: no trip": {requests: 1000, wantAction: Hold},
	}
	for name, tc := range tests {
		for _, q := range []float64{0.5, 0.95, 0.99, 0.999} {
			t.Run(name+"/"+QuantileName(q), func(t *testing.T) {
				in := base()
				in.Thresholds.MaxLatency, in.Thresholds.LatencyQuantile, in.Thresholds.LatencyFactor = time.Millisecond, q, 1.1
				in.StepStartedAt, in.StepCanaryRequests = in.Now.Add(-time.Second), int64(tc.requests)
				in.Canary = stats(in.Now, tc.requests, 0)
				in.Canary.P50, in.Canary.P99 = math.NaN(), math.NaN()
				d := Decide(in)
				if d.Action != tc.wantAction || d.Reason == reason.Latency {
					t.Fatalf("Decide = %s/%s (%q), want %s and no latency trip", d.Action, d.Reason, d.Message, tc.wantAction)
				}
			})
		}
	}
}

func TestQuantileName(t *testing.T) {
	tests := map[string]struct {
		q    float64
		want string
	}{
		"median": {q: 0.5, want: "p50"},
		"p95":    {q: 0.95, want: "p95"},
		"p97.5":  {q: 0.975, want: "p97.5"},
		"p99":    {q: 0.99, want: "p99"},
		"p99.9":  {q: 0.999, want: "p99.9"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := QuantileName(tc.q); got != tc.want {
				t.Fatalf("QuantileName(%g) = %q, want %q", tc.q, got, tc.want)
			}
		})
	}
}

// TestQuantileTestLevel computes, by enumerating every count, the probability that the
// latency test (quantileAbove) trips on a canary whose q-quantile is exactly at the limit,
// and checks it stays within α: with the limit on a bucket bound (each sample above it
// or not, the exact binomial tail), and inside a bucket, where a sample in that bucket
// counts half (the convex-order bound).
func TestQuantileTestLevel(t *testing.T) {
	const alpha = 0.001
	bounds := []float64{100, 200}
	for _, q := range []float64{0.5, 0.9, 0.95, 0.99, 0.999} {
		for _, n := range []uint64{20, 100, 1000, 5000} {
			p := 1 - q
			// On a bound: k samples in (100,200] above a limit of 100, k ~ Binomial(n, 1 − q).
			// Inside: a limit of 150, k ~ Binomial(n, 2(1 − q)), each counting ½: mean 1 − q.
			for _, tc := range []struct {
				where    string
				limit, r float64
			}{{"on a bound", 100, p}, {"inside a bucket", 150, 2 * p}} {
				var trip, tripsAt float64
				first := -1
				for k := uint64(0); k <= n; k++ {
					c := window.Stats{Latency: traffic.Histogram{Bounds: bounds, Counts: []uint64{n - k, n}, Count: n}}
					if _, ok := quantileAbove(c, q, tc.limit, alpha); ok {
						trip += math.Exp(logBinomPMF(k, n, tc.r))
						if first < 0 {
							first = int(k)
						}
					} else if first >= 0 {
						t.Fatalf("q=%g n=%d %s: trips at %d samples above but not at %d", q, n, tc.where, first, k)
					}
				}
				tripsAt = float64(first)
				if trip > alpha {
					t.Errorf("q=%g n=%d %s: trips with probability %.3g > α = %g at the limit (first at %g of %d in the bucket)", q, n, tc.where, trip, alpha, tripsAt, n)
				}
				if n >= 1000 && q <= 0.99 && tc.r < 0.5 && first < 0 {
					t.Errorf("q=%g n=%d %s: never trips, even with every sample slow", q, n, tc.where)
				}
			}
		}
	}
}
