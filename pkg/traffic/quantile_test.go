package traffic

import (
	"math"
	"testing"
)

func TestHistogramQuantile(t *testing.T) {
	h := Histogram{Bounds: []float64{10, 100, 1000}, Counts: []uint64{50, 90, 99}, Count: 100, Sum: 5000}
	tests := map[string]struct {
		h    Histogram
		q    float64
		want float64
	}{
		"median in first bucket starts at 0":  {h, 0.5, 10 * 50.0 / 50},
		"p25 interpolated in first bucket":    {h, 0.25, 5},
		"p70 interpolated in second bucket":   {h, 0.7, 10 + 90*(20.0/40)},
		"p99 at bucket edge":                  {h, 0.99, 1000},
		"p995 in +Inf bucket → highest bound": {h, 0.995, 1000},
		"q > 1":                               {h, 1.5, math.Inf(1)},
		"q < 0":                               {h, -0.1, math.Inf(-1)},
		"empty":                               {Histogram{}, 0.5, math.NaN()},
		"zero count":                          {Histogram{Bounds: []float64{1}, Counts: []uint64{0}}, 0.5, math.NaN()},
		"non-monotonic counts clamped":        {Histogram{Bounds: []float64{10, 20}, Counts: []uint64{10, 8}, Count: 10}, 0.9, 9},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.h.Quantile(tc.q)
			if math.IsNaN(tc.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tc.want) > 1e-9) {
				t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}
