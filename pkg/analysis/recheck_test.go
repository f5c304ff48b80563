package analysis

import (
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

func TestRecheck(t *testing.T) {
	bounds := []float64{10, 50, 100, 250, 500, 1000}
	// slow is a window of n samples, all in the (250,500] ms bucket; fast all ≤ 10 ms.
	slow := func(now time.Time, n uint64) window.Stats {
		s := stats(now, n, 0)
		s.Latency = traffic.Histogram{Bounds: bounds, Counts: []uint64{0, 0, 0, 0, n, n}, Count: n}
		s.P50, s.P99 = window.Quantile(s.Latency, 0.5), window.Quantile(s.Latency, 0.99)
		return s
	}
	fast := func(now time.Time, n uint64) window.Stats {
		s := stats(now, n, 0)
		s.Latency = traffic.Histogram{Bounds: bounds, Counts: []uint64{n, n, n, n, n, n}, Count: n}
		s.P50, s.P99 = window.Quantile(s.Latency, 0.5), window.Quantile(s.Latency, 0.99)
		return s
	}
	// at sets the 1 s sub-window (the 2.5 s and 5 s ones healthy) and the latest tick.
	at := func(in *Input, c1, c1e, s1, s1e, tick, ticke uint64) {
		in.Trailing = trailing(in.Now, [3][4]uint64{{c1, c1e, s1, s1e}, {250, 0, 2375, 0}, {500, 0, 4750, 0}})
		in.CanaryTick = stats(in.Now, tick, ticke)
		in.CanaryTick.Span = 500 * time.Millisecond
	}
	tests := map[string]struct {
		edit        func(*Input)
		wantAction  Action
		wantRecheck bool
	}{
		"fresh errors, improbable at the limit, not yet significant": {
			edit:       func(in *Input) { at(in, 50, 3, 950, 0, 25, 2) },
			wantAction: Advance, wantRecheck: true,
		},
		"the same while holding in the dwell": {
			edit: func(in *Input) {
				at(in, 50, 3, 950, 0, 25, 2)
				in.StepStartedAt = in.Now.Add(-time.Second)
			},
			wantAction: Hold, wantRecheck: true,
		},
		"the same while paused (the guard runs in every phase)": {
			edit:       func(in *Input) { at(in, 50, 3, 950, 0, 25, 2); in.Phase = PhasePaused },
			wantAction: Hold, wantRecheck: true,
		},
		"no fresh errors in the latest tick": {
			edit:       func(in *Input) { at(in, 50, 3, 950, 0, 25, 0) },
			wantAction: Advance,
		},
		"one error is not improbable yet": {
			edit:       func(in *Input) { at(in, 50, 1, 950, 0, 25, 1) },
			wantAction: Advance,
		},
		"errors within the absolute limit": {
			edit:       func(in *Input) { at(in, 500, 4, 950, 0, 250, 2) },
			wantAction: Advance,
		},
		"errors at stable's own rate": {
			edit:       func(in *Input) { at(in, 50, 3, 950, 57, 25, 2) },
			wantAction: Advance,
		},
		"a trip asks for nothing more": {
			edit:       func(in *Input) { at(in, 50, 50, 950, 0, 25, 25) },
			wantAction: Rollback,
		},
		"fresh slow samples over the p99 limit, too few to judge": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				at(in, 50, 0, 950, 0, 25, 0)
				in.Trailing[0].Canary = slow(in.Now, 10)
				in.CanaryTick = slow(in.Now, 5)
			},
			wantAction: Advance, wantRecheck: true,
		},
		"slow samples, but the latest tick was fast": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatencyP99 = 200 * time.Millisecond
				at(in, 50, 0, 950, 0, 25, 0)
				in.Trailing[0].Canary = slow(in.Now, 10)
				in.CanaryTick = fast(in.Now, 5)
			},
			wantAction: Advance,
		},
		"fresh slow samples over a p95 limit, too few to judge": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatency, in.Thresholds.LatencyQuantile = 200*time.Millisecond, 0.95
				at(in, 50, 0, 950, 0, 25, 0)
				in.Trailing[0].Canary = slow(in.Now, 10)
				in.CanaryTick = slow(in.Now, 5)
			},
			wantAction: Advance, wantRecheck: true,
		},
		"slow samples over a p95 limit, but the latest tick was fast": {
			edit: func(in *Input) {
				in.Thresholds.MaxLatency, in.Thresholds.LatencyQuantile = 200*time.Millisecond, 0.95
				at(in, 50, 0, 950, 0, 25, 0)
				in.Trailing[0].Canary = slow(in.Now, 10)
				in.CanaryTick = fast(in.Now, 5)
			},
			wantAction: Advance,
		},
		"slow samples with no latency rule": {
			edit: func(in *Input) {
				at(in, 50, 0, 950, 0, 25, 0)
				in.Trailing[0].Canary = slow(in.Now, 10)
				in.CanaryTick = slow(in.Now, 5)
			},
			wantAction: Advance,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			tc.edit(&in)
			d := Decide(in)
			if d.Action != tc.wantAction || d.Recheck != tc.wantRecheck {
				t.Fatalf("got %s (recheck %v): %s; want %s (recheck %v)", d.Action, d.Recheck, d.Message, tc.wantAction, tc.wantRecheck)
			}
		})
	}
}
