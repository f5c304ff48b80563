package main

import (
	"math"
	"time"

	"github.com/sluicedev/sluice/e2e/promtext"
	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

// What the evidence allows: a fault at the 5 % step shows as a trickle of failed canary
// calls, and no rule at 99.9 % can act before it has seen enough of them. These helpers
// compute, with the real analysis.Decide, how many failures that is and when they have
// arrived, independent of ticks and processing.

// minFailures is the fewest failed canary calls, all within the last second of a window
// of steady traffic (canary and stable at the given calls/s, stable without failures),
// on which analysis.Decide with the bench's policy rolls back; 0 if none up to a second's
// calls does.
func minFailures(canaryRate, stableRate float64) int {
	return fewest(canaryRate, func(k uint64) analysis.Input { return evidenceInput(canaryRate, stableRate, k, nil) })
}

// slowness is a latency fault for evidenceInput: the limit (max-latency-p99), and the
// latency of healthy calls and of the fault's slow ones, in ms.
type slowness struct {
	limit             time.Duration
	healthyMs, slowMs float64
}

// minSlowCalls is minFailures for a latency fault: the fewest slow canary calls in the
// last second, the other calls healthy, on which analysis.Decide rolls back with the
// latency limit as the only latency rule.
func minSlowCalls(canaryRate, stableRate float64, sl slowness) int {
	return fewest(canaryRate, func(k uint64) analysis.Input { return evidenceInput(canaryRate, stableRate, k, &sl) })
}

// fewest is the smallest k up to a second's canary calls whose input rolls back; 0 if none.
func fewest(canaryRate float64, input func(k uint64) analysis.Input) int {
	n := int(math.Round(canaryRate))
	for k := 1; k <= n; k++ {
		if analysis.Decide(input(uint64(k))).Action == analysis.Rollback {
			return k
		}
	}
	return 0
}

// evidenceInput is a tick at the first step of the bench's rollout, 10 s in, with k bad
// canary calls in the last second: failed ones, or with sl slow ones (the latency
// histograms over Istio's buckets as the lab's callers report them).
func evidenceInput(canaryRate, stableRate float64, k uint64, sl *slowness) analysis.Input {
	th := analysis.DefaultThresholds()
	if sl != nil {
		th.MaxLatencyP99 = sl.limit
	}
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	stats := func(rate float64, span time.Duration, bad uint64) window.Stats {
		n := uint64(math.Round(rate * span.Seconds()))
		bad = min(bad, n)
		s := window.Stats{Requests: n, Rq2xx: n, Span: span, Pods: 1, LastData: now, LastRequest: now,
			P50: math.NaN(), P99: math.NaN()}
		if sl == nil {
			s.Rq2xx, s.Rq5xx = n-bad, bad
			return s
		}
		s.Latency = latencyHistogram(n-bad, sl.healthyMs, bad, sl.slowMs)
		s.P50, s.P99 = window.Quantile(s.Latency, 0.5), window.Quantile(s.Latency, 0.99)
		return s
	}
	in := analysis.Input{
		Now: now, Phase: analysis.PhaseProgressing, Steps: schedule.Default(stepDuration, th.MinRequests),
		Step: 1, Weight: 5, StepStartedAt: now.Add(-time.Second),
		Canary: stats(canaryRate, th.Window, k), Stable: stats(stableRate, th.Window, 0),
		CanaryTick: stats(canaryRate, 500*time.Millisecond, k), Thresholds: th,
	}
	for _, d := range analysis.TrailingSpans(th.Window) {
		in.Trailing = append(in.Trailing, analysis.Trailing{Span: d, Canary: stats(canaryRate, d, k), Stable: stats(stableRate, d, 0)})
	}
	return in
}

// latencyHistogram is the cumulative histogram, over the lab's buckets, of a calls of aMs
// and b calls of bMs.
func latencyHistogram(a uint64, aMs float64, b uint64, bMs float64) traffic.Histogram {
	h := traffic.Histogram{Bounds: promtext.DurationBuckets, Counts: make([]uint64, len(promtext.DurationBuckets)), Count: a + b}
	for i, le := range h.Bounds {
		if aMs <= le {
			h.Counts[i] += a
		}
		if bMs <= le {
			h.Counts[i] += b
		}
	}
	return h
}
