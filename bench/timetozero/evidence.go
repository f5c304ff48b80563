package main

import (
	"math"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/schedule"
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
	n := int(math.Round(canaryRate))
	for k := 1; k <= n; k++ {
		if analysis.Decide(evidenceInput(canaryRate, stableRate, uint64(k))).Action == analysis.Rollback {
			return k
		}
	}
	return 0
}

// evidenceInput is a tick at the first step of the bench's rollout, 10 s in, with k
// canary failures in the last second.
func evidenceInput(canaryRate, stableRate float64, k uint64) analysis.Input {
	th := analysis.DefaultThresholds()
	now := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	stats := func(rate float64, span time.Duration, failed uint64) window.Stats {
		n := uint64(math.Round(rate * span.Seconds()))
		failed = min(failed, n)
		return window.Stats{Requests: n, Rq2xx: n - failed, Rq5xx: failed, Span: span, Pods: 1, LastData: now, LastRequest: now,
			P50: math.NaN(), P99: math.NaN()}
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
