package analysis

import (
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

func TestLatency(t *testing.T) {
	bounds := []float64{10, 50, 100, 250, 500, 1000}
	// hist spreads n samples: fast% at ≤10ms, the rest in the (250,500] bucket.
	hist := func(n, fast uint64) traffic.Histogram {
		f := n * fast / 100
		return traffic.Histogram{Bounds: bounds, Counts: []uint64{f, f, f, f, n, n}, Count: n}
	}
	withHist := func(s window.Stats, h traffic.Histogram) window.Stats {
		s.Latency = h
		s.P50, s.P99 = window.Quantile(h, 0.5), window.Quantile(h, 0.99)
		return s
	}
	tests := map[string]struct {
		edit       func(*Input)
		wantAction Action
		wantReason string
	}{
		"p99 above the absolute limit": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				in.Canary = withHist(in.Canary, hist(1000, 90)) // 10% in (250,500]
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"absolute limit needs MinRequests samples": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				in.Canary = withHist(stats(in.Now, 19, 0), hist(19, 50))
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"a p99 over the limit from one slow sample is not significant": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				h := traffic.Histogram{Bounds: bounds, Counts: []uint64{99, 99, 99, 99, 100, 100}, Count: 100}
				in.Canary = withHist(stats(in.Now, 100, 0), h)
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"p99 above stable × factor": {
			edit: func(in *Input) {
				in.Thresholds.LatencyFactor = 2
				in.Canary = withHist(in.Canary, hist(1000, 90))
				in.Stable = withHist(in.Stable, traffic.Histogram{Bounds: bounds, Counts: []uint64{2990, 3000, 3000, 3000, 3000, 3000}, Count: 3000})
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"factor needs stable samples": {
			edit: func(in *Input) {
				in.Thresholds.LatencyFactor = 2
				in.Canary = withHist(in.Canary, hist(1000, 90))
				in.Stable = withHist(stats(in.Now, 19, 0), traffic.Histogram{Bounds: bounds, Counts: []uint64{19, 19, 19, 19, 19, 19}, Count: 19})
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"the bucket holding the limit counts by its part above it": {
			// 10% of samples in (100,250]: p99 ≈ 235ms; a third of that bucket lies above
			// 200ms, so 3.3% of samples count as above it, significantly more than 1%.
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				in.Canary = withHist(in.Canary, traffic.Histogram{Bounds: bounds, Counts: []uint64{900, 900, 900, 1000, 1000, 1000}, Count: 1000})
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"a p99 just above the limit on few samples is not significant": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				in.Canary = withHist(stats(in.Now, 40, 0), traffic.Histogram{Bounds: bounds, Counts: []uint64{36, 36, 36, 40, 40, 40}, Count: 40})
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"samples a third above the limit: significant by the convex bound": {
			// 14 of 50 samples in (100,250], each counting ⅓ above 200ms: 4.67 against a
			// mean of 0.5 under the limit. P ≤ 2.4e-4 by the convex-order bound, below α =
			// 0.001; Hoeffding's bound alone (1.6e-3) would not trip.
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				in.Canary = withHist(stats(in.Now, 50, 0), traffic.Histogram{Bounds: bounds, Counts: []uint64{36, 36, 36, 50, 50, 50}, Count: 50})
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"stable p99 from 99 samples is no reference": {
			edit: func(in *Input) {
				in.Thresholds.LatencyFactor = 2
				in.Canary = withHist(in.Canary, hist(1000, 90))
				in.Stable = withHist(stats(in.Now, 99, 0), traffic.Histogram{Bounds: bounds, Counts: []uint64{99, 99, 99, 99, 99, 99}, Count: 99})
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"stable p99 from 100 samples is": {
			edit: func(in *Input) {
				in.Thresholds.LatencyFactor = 2
				in.Canary = withHist(in.Canary, hist(1000, 90))
				in.Stable = withHist(stats(in.Now, 100, 0), traffic.Histogram{Bounds: bounds, Counts: []uint64{100, 100, 100, 100, 100, 100}, Count: 100})
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"a slow last second trips against a fast stable": {
			edit: func(in *Input) {
				in.Thresholds.LatencyFactor = 2
				in.Stable = withHist(in.Stable, traffic.Histogram{Bounds: bounds, Counts: []uint64{2990, 3000, 3000, 3000, 3000, 3000}, Count: 3000})
				in.Canary = withHist(in.Canary, hist(1000, 99)) // the window: fast enough
				in.Trailing = trailing(in.Now, [3][4]uint64{{100, 0, 300, 0}, {250, 0, 750, 0}, {500, 0, 1500, 0}})
				in.Trailing[0].Canary = withHist(in.Trailing[0].Canary, hist(100, 50))
				in.Trailing[0].Stable = withHist(in.Trailing[0].Stable, traffic.Histogram{Bounds: bounds, Counts: []uint64{299, 300, 300, 300, 300, 300}, Count: 300})
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"a slowdown shared with stable's last second does not trip": {
			edit: func(in *Input) {
				in.Thresholds.LatencyFactor = 2
				in.Stable = withHist(in.Stable, traffic.Histogram{Bounds: bounds, Counts: []uint64{2990, 3000, 3000, 3000, 3000, 3000}, Count: 3000})
				in.Canary = withHist(in.Canary, hist(1000, 99))
				in.Trailing = trailing(in.Now, [3][4]uint64{{100, 0, 300, 0}, {250, 0, 750, 0}, {500, 0, 1500, 0}})
				in.Trailing[0].Canary = withHist(in.Trailing[0].Canary, hist(100, 50))
				in.Trailing[0].Stable = withHist(in.Trailing[0].Stable, hist(300, 50))
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"computed quantiles only: point value decides": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				in.Canary.P99 = 250
			},
			wantAction: Rollback, wantReason: reason.Latency,
		},
		"disabled limits never trip": {
			edit:       func(in *Input) { in.Canary = withHist(in.Canary, hist(1000, 0)) },
			wantAction: Advance, wantReason: reason.StepComplete,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			tc.edit(&in)
			assertDecision(t, Decide(in), tc.wantAction, tc.wantReason, "")
		})
	}
}
