package window

import (
	"math"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// FuzzObserve drives a window with random sequences of cumulative counts (going up, down,
// pods appearing, vanishing, failing, time jumping) and checks that no increment exceeds
// what the pods' counters could have grown and that nothing is negative or wrapped.
func FuzzObserve(f *testing.F) {
	f.Add([]byte{0, 10, 3, 1, 5, 0, 200, 8, 2, 2, 1, 0})
	f.Add([]byte{255, 255, 255, 255, 0, 0, 0, 0, 7, 7, 7, 7, 1, 2, 3})
	f.Add([]byte("counter reset mid-window: 9 8 7 6 5 4 3 2 1 0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		length := time.Duration(1+int(byteAt(data, 0))%20) * 500 * time.Millisecond
		w := New(length)
		now := t0
		ids := []string{"a/1", "a/2", "b/1", "c"}
		for i := 1; i+3 < len(data); i += 4 {
			op, v, e, step := data[i], data[i+1], data[i+2], data[i+3]
			now = now.Add(time.Duration(int(step%8)-1) * 250 * time.Millisecond) // may go backwards
			ok := map[string]traffic.Counts{}
			var bound uint64
			for j, id := range ids {
				if op&(1<<j) == 0 {
					continue
				}
				c := countsFrom(v, e, uint(j))
				ok[id] = c
				bound = addSat(bound, c.Requests)
			}
			failed := int(op>>4) % 3
			if op&0x80 != 0 {
				length = max(length/2, time.Millisecond)
				w.SetLength(length)
			}
			inc := w.Observe(now, ok, failed)
			if inc.Requests > bound {
				t.Fatalf("increment %d requests exceeds the pods' cumulative %d", inc.Requests, bound)
			}
			checkStats(t, inc, time.Duration(math.MaxInt64)) // an increment spans back to the previous tick
			s := w.Stats(now)
			checkStats(t, s, length)
			sub := w.StatsSince(now, length/3)
			checkStats(t, sub, length/3)
			if sub.Requests > s.Requests || sub.Rq5xx > s.Rq5xx {
				t.Fatalf("sub-window %+v holds more than the window %+v", sub, s)
			}
		}
	})
}

func byteAt(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}

// countsFrom builds a cumulative reading; huge values exercise saturation.
func countsFrom(v, e byte, shift uint) traffic.Counts {
	req := uint64(v) << (shift * 15)
	if v == 255 {
		req = math.MaxUint64 - uint64(e)
	}
	errs := min(uint64(e), req)
	return traffic.Counts{
		Requests: req, Rq2xx: req - errs, Rq5xx: errs,
		Latency: traffic.Histogram{Bounds: []float64{1, 10}, Counts: []uint64{errs, req}, Count: req},
		P50:     float64(e), P99: float64(v),
	}
}

func checkStats(t *testing.T, s Stats, length time.Duration) {
	t.Helper()
	if s.Rq2xx > s.Requests || s.Rq5xx > s.Requests {
		t.Fatalf("classes exceed requests: %+v", s)
	}
	if s.Span < 0 || s.Span > length {
		t.Fatalf("span %s outside 0–%s", s.Span, length)
	}
	if s.Latency.Count > 0 && s.Latency.Count > s.Requests {
		t.Fatalf("histogram count %d above requests %d", s.Latency.Count, s.Requests)
	}
	for _, q := range []float64{s.P50, s.P99} {
		if !math.IsNaN(q) && (q < 0 || math.IsInf(q, 0)) {
			t.Fatalf("quantile %v", q)
		}
	}
	if s.Pods < 0 || s.FailedPods < 0 {
		t.Fatalf("negative pods: %+v", s)
	}
}
