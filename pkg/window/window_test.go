package window

import (
	"math"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// cnt is a pod's cumulative counts: req requests of which e are 5xx, the rest 2xx.
func cnt(req, e uint64) traffic.Counts {
	return traffic.Counts{Requests: req, Rq2xx: req - e, Rq5xx: e}
}

type obs struct {
	at     time.Duration // since t0
	ok     map[string]traffic.Counts
	failed int
	// wantReq, wantErr are this tick's expected increment.
	wantReq, wantErr uint64
}

func TestObserve(t *testing.T) {
	tests := map[string]struct {
		length time.Duration
		ticks  []obs
		// window at the last tick
		wantReq, wantErr uint64
		wantSpan         time.Duration
		wantPods         int
		wantFailed       int
	}{
		"first observation is a baseline": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(1000, 50)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(1010, 51)}, wantReq: 10, wantErr: 1},
			},
			wantReq: 10, wantErr: 1, wantSpan: time.Second, wantPods: 1,
		},
		"pods sum": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(5, 0), "b/1": cnt(7, 1)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(15, 2), "b/1": cnt(27, 4)}, wantReq: 30, wantErr: 5},
			},
			wantReq: 30, wantErr: 5, wantSpan: time.Second, wantPods: 2,
		},
		"new pod mid-window is a baseline": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(5, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(6, 0), "b/1": cnt(900, 900)}, wantReq: 1},
				{at: 2 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(7, 0), "b/1": cnt(902, 901)}, wantReq: 3, wantErr: 1},
			},
			wantReq: 4, wantErr: 1, wantSpan: 2 * time.Second, wantPods: 2,
		},
		"counter reset mid-window counts nothing that tick": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(100, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(110, 1)}, wantReq: 10, wantErr: 1},
				{at: 2 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(4, 4)}},
				{at: 3 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(9, 5)}, wantReq: 5, wantErr: 1},
			},
			wantReq: 15, wantErr: 2, wantSpan: 3 * time.Second, wantPods: 1,
		},
		"one counter going down is a reset": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(100, 10)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(120, 5)}},
			},
			wantReq: 0, wantErr: 0, wantSpan: time.Second, wantPods: 1,
		},
		"recreated pod under the same name counts from 0": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/uid1/10.0.0.1": cnt(100, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/uid2/10.0.0.2": cnt(8, 3)}, wantReq: 8, wantErr: 3},
			},
			wantReq: 8, wantErr: 3, wantSpan: time.Second, wantPods: 1,
		},
		"vanished pod drops out and returns as a baseline": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(10, 0), "b/1": cnt(10, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(12, 0)}, wantReq: 2},
				{at: 2 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(13, 0), "b/1": cnt(50, 40)}, wantReq: 1},
			},
			wantReq: 3, wantErr: 0, wantSpan: 2 * time.Second, wantPods: 2,
		},
		"failed pod keeps its series": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(10, 0), "b/1": cnt(10, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(12, 0)}, failed: 1, wantReq: 2},
				{at: 2 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(13, 0), "b/1": cnt(20, 3)}, wantReq: 11, wantErr: 3},
			},
			wantReq: 13, wantErr: 3, wantSpan: 2 * time.Second, wantPods: 2,
		},
		"all pods failed": {
			length: 10 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(10, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(20, 0)}, wantReq: 10},
				{at: 2 * time.Second, failed: 1},
			},
			wantReq: 10, wantSpan: 2 * time.Second, wantPods: 0, wantFailed: 1,
		},
		"old increments leave the window": {
			length: 2 * time.Second,
			ticks: []obs{
				{at: 0, ok: map[string]traffic.Counts{"a/1": cnt(0, 0)}},
				{at: time.Second, ok: map[string]traffic.Counts{"a/1": cnt(100, 100)}, wantReq: 100, wantErr: 100},
				{at: 2 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(110, 100)}, wantReq: 10},
				{at: 3 * time.Second, ok: map[string]traffic.Counts{"a/1": cnt(130, 100)}, wantReq: 20},
			},
			wantReq: 30, wantErr: 0, wantSpan: 2 * time.Second, wantPods: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := New(tc.length)
			var last time.Time
			for i, o := range tc.ticks {
				last = t0.Add(o.at)
				inc := w.Observe(last, o.ok, o.failed)
				if inc.Requests != o.wantReq || inc.Errors() != o.wantErr {
					t.Fatalf("tick %d increment = %d requests, %d errors; want %d, %d", i, inc.Requests, inc.Errors(), o.wantReq, o.wantErr)
				}
			}
			s := w.Stats(last)
			if s.Requests != tc.wantReq || s.Errors() != tc.wantErr {
				t.Fatalf("window = %d requests, %d errors; want %d, %d", s.Requests, s.Errors(), tc.wantReq, tc.wantErr)
			}
			if s.Span != tc.wantSpan || s.Pods != tc.wantPods || s.FailedPods != tc.wantFailed {
				t.Fatalf("window span %s pods %d failed %d; want %s, %d, %d", s.Span, s.Pods, s.FailedPods, tc.wantSpan, tc.wantPods, tc.wantFailed)
			}
		})
	}
}

func TestLastDataAndLastRequest(t *testing.T) {
	w := New(10 * time.Second)
	if s := w.Stats(t0); !s.LastData.IsZero() || !s.LastRequest.IsZero() || !math.IsNaN(s.P99) || !math.IsNaN(s.ErrorRate()) {
		t.Fatalf("empty window: %+v", s)
	}
	w.Observe(t0, map[string]traffic.Counts{"a/1": cnt(10, 0)}, 0)
	if s := w.Stats(t0); !s.LastData.Equal(t0) || !s.LastRequest.IsZero() {
		t.Fatalf("after baseline: LastData %v LastRequest %v", s.LastData, s.LastRequest)
	}
	w.Observe(t0.Add(time.Second), map[string]traffic.Counts{"a/1": cnt(11, 0)}, 0)
	w.Observe(t0.Add(2*time.Second), map[string]traffic.Counts{"a/1": cnt(11, 0)}, 0)
	w.Observe(t0.Add(3*time.Second), nil, 1)
	s := w.Stats(t0.Add(3 * time.Second))
	if want := t0.Add(2 * time.Second); !s.LastData.Equal(want) {
		t.Fatalf("LastData = %v, want %v", s.LastData, want)
	}
	if want := t0.Add(time.Second); !s.LastRequest.Equal(want) {
		t.Fatalf("LastRequest = %v, want %v", s.LastRequest, want)
	}
}

func TestLatency(t *testing.T) {
	bounds := []float64{10, 100, 1000}
	hist := func(counts ...uint64) traffic.Histogram {
		return traffic.Histogram{Bounds: bounds, Counts: counts[:3], Count: counts[3]}
	}
	tests := map[string]struct {
		ticks   []traffic.Counts
		wantP50 float64
		wantP99 float64
		// wantP95, wantP999 are Stats.Quantile(0.95) and (0.999): the guard's chosen
		// quantile, from the same histogram deltas as P50 and P99.
		wantP95, wantP999 float64
		wantHist          uint64
	}{
		"histogram deltas": {
			// baseline has 1000 fast requests; the window sees 100, 90 of them in (100,1000].
			ticks: []traffic.Counts{
				{Requests: 1000, Latency: hist(1000, 1000, 1000, 1000)},
				{Requests: 1100, Latency: hist(1010, 1010, 1100, 1100)},
			},
			wantP50: 100 + 900*(50.0-10)/90, wantP99: 100 + 900*(99.0-10)/90, wantHist: 100,
			wantP95: 100 + 900*(95.0-10)/90, wantP999: 100 + 900*(99.9-10)/90,
		},
		"computed quantiles only": {
			// Only p50 and p99 are reported: another quantile is no data, not a guess.
			ticks:   []traffic.Counts{{Requests: 10, P50: 3, P99: 30}, {Requests: 20, P50: 4, P99: 40}},
			wantP50: 4, wantP99: 40, wantP95: math.NaN(), wantP999: math.NaN(),
		},
		"no requests gives NaN": {
			ticks:   []traffic.Counts{{Requests: 10, P50: 3, P99: 30}, {Requests: 10, P50: 4, P99: 40}},
			wantP50: math.NaN(), wantP99: math.NaN(), wantP95: math.NaN(), wantP999: math.NaN(),
		},
		"changed bounds contribute no histogram": {
			ticks: []traffic.Counts{
				{Requests: 10, Latency: traffic.Histogram{Bounds: []float64{1}, Counts: []uint64{10}, Count: 10}},
				{Requests: 20, Latency: hist(10, 20, 20, 20)},
			},
			wantP50: math.NaN(), wantP99: math.NaN(), wantP95: math.NaN(), wantP999: math.NaN(),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := New(10 * time.Second)
			for i, c := range tc.ticks {
				w.Observe(t0.Add(time.Duration(i)*time.Second), map[string]traffic.Counts{"a/1": c}, 0)
			}
			s := w.Stats(t0.Add(time.Duration(len(tc.ticks)-1) * time.Second))
			if !approxEq(s.P50, tc.wantP50) || !approxEq(s.P99, tc.wantP99) {
				t.Fatalf("P50 %v P99 %v, want %v %v", s.P50, s.P99, tc.wantP50, tc.wantP99)
			}
			if !approxEq(s.Quantile(0.5), s.P50) || !approxEq(s.Quantile(0.99), s.P99) {
				t.Fatalf("Quantile(0.5) %v Quantile(0.99) %v differ from P50 %v P99 %v", s.Quantile(0.5), s.Quantile(0.99), s.P50, s.P99)
			}
			if got := s.Quantile(0.95); !approxEq(got, tc.wantP95) {
				t.Fatalf("Quantile(0.95) %v, want %v", got, tc.wantP95)
			}
			if got := s.Quantile(0.999); !approxEq(got, tc.wantP999) {
				t.Fatalf("Quantile(0.999) %v, want %v", got, tc.wantP999)
			}
			if s.Latency.Count != tc.wantHist {
				t.Fatalf("histogram count %d, want %d", s.Latency.Count, tc.wantHist)
			}
		})
	}
}

func approxEq(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) < 1e-9
}

func TestSetLengthAndBoundedMemory(t *testing.T) {
	w := New(time.Hour)
	for i := range 10000 {
		w.Observe(t0.Add(time.Duration(i)*time.Millisecond), map[string]traffic.Counts{"a/1": cnt(uint64(i), 0)}, 0)
	}
	if n := len(w.ticks); n > maxTicks {
		t.Fatalf("%d ticks kept, cap %d", n, maxTicks)
	}
	now := t0.Add(9999 * time.Millisecond)
	if got := w.Stats(now).Requests; got != maxTicks {
		t.Fatalf("window of the last %d ticks has %d requests", maxTicks, got)
	}
	w.SetLength(100 * time.Millisecond)
	if got := w.Stats(now).Requests; got != 100 {
		t.Fatalf("after SetLength(100ms): %d requests, want 100", got)
	}
	w.Observe(now.Add(time.Millisecond), map[string]traffic.Counts{"a/1": cnt(10000, 0)}, 0)
	if n := len(w.ticks); n != 100 {
		t.Fatalf("after pruning to 100ms: %d ticks kept, want 100", n)
	}
}

func TestSaturatingSum(t *testing.T) {
	w := New(10 * time.Second)
	w.Observe(t0, map[string]traffic.Counts{"a/1": cnt(0, 0), "b/1": cnt(0, 0)}, 0)
	inc := w.Observe(t0.Add(time.Second), map[string]traffic.Counts{"a/1": cnt(math.MaxUint64, 0), "b/1": cnt(math.MaxUint64, 0)}, 0)
	if inc.Requests != math.MaxUint64 {
		t.Fatalf("sum wrapped: %d", inc.Requests)
	}
}

func TestStatsShrinksWithoutTicks(t *testing.T) {
	w := New(2 * time.Second)
	w.Observe(t0, map[string]traffic.Counts{"a/1": cnt(0, 0)}, 0)
	w.Observe(t0.Add(time.Second), map[string]traffic.Counts{"a/1": cnt(10, 1)}, 0)
	tests := map[string]struct {
		at       time.Duration
		wantReq  uint64
		wantSpan time.Duration
	}{
		"at the tick":             {at: time.Second, wantReq: 10, wantSpan: time.Second},
		"before the tick":         {at: 500 * time.Millisecond, wantReq: 0, wantSpan: 500 * time.Millisecond},
		"tick still in window":    {at: 2900 * time.Millisecond, wantReq: 10, wantSpan: 2 * time.Second},
		"tick at the window edge": {at: 3 * time.Second, wantReq: 0, wantSpan: 2 * time.Second},
		"before the first tick":   {at: -time.Second, wantReq: 0, wantSpan: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := w.Stats(t0.Add(tc.at))
			if s.Requests != tc.wantReq || s.Span != tc.wantSpan {
				t.Fatalf("Stats = %d requests over %s, want %d over %s", s.Requests, s.Span, tc.wantReq, tc.wantSpan)
			}
		})
	}
}

func TestStatsSince(t *testing.T) {
	w := New(10 * time.Second)
	w.Observe(t0, map[string]traffic.Counts{"a/1": cnt(0, 0)}, 0)
	// One tick a second, tick i (1…12) adding i requests, the last three all errors.
	var req, e uint64
	for i := uint64(1); i <= 12; i++ {
		req += i
		if i >= 10 {
			e += i
		}
		w.Observe(t0.Add(time.Duration(i)*time.Second), map[string]traffic.Counts{"a/1": cnt(req, e)}, 0)
	}
	now := t0.Add(12 * time.Second)
	tests := map[string]struct {
		d                time.Duration
		wantReq, wantErr uint64
		wantSpan         time.Duration
	}{
		"the last tick":               {d: time.Second, wantReq: 12, wantErr: 12, wantSpan: time.Second},
		"just under two ticks":        {d: 1999 * time.Millisecond, wantReq: 12 + 11, wantErr: 23, wantSpan: 1999 * time.Millisecond},
		"2.5s":                        {d: 2500 * time.Millisecond, wantReq: 12 + 11 + 10, wantErr: 33, wantSpan: 2500 * time.Millisecond},
		"5s":                          {d: 5 * time.Second, wantReq: 12 + 11 + 10 + 9 + 8, wantErr: 33, wantSpan: 5 * time.Second},
		"the window":                  {d: 10 * time.Second, wantReq: 75, wantErr: 33, wantSpan: 10 * time.Second},
		"beyond the window is capped": {d: time.Minute, wantReq: 75, wantErr: 33, wantSpan: 10 * time.Second},
		"zero":                        {d: 0, wantReq: 0, wantErr: 0, wantSpan: 0},
		"negative":                    {d: -time.Second, wantReq: 0, wantErr: 0, wantSpan: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := w.StatsSince(now, tc.d)
			if s.Requests != tc.wantReq || s.Rq5xx != tc.wantErr || s.Span != tc.wantSpan {
				t.Fatalf("StatsSince(%s) = %d requests, %d 5xx over %s; want %d, %d over %s",
					tc.d, s.Requests, s.Rq5xx, s.Span, tc.wantReq, tc.wantErr, tc.wantSpan)
			}
			if full := w.Stats(now); tc.d >= 10*time.Second && (full.Requests != s.Requests || full.Span != s.Span) {
				t.Fatalf("StatsSince(%s) = %+v differs from Stats = %+v", tc.d, s, full)
			}
		})
	}
}
