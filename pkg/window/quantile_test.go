package window

import (
	"math"
	"testing"

	"github.com/sluicedev/sluice/pkg/traffic"
)

func TestQuantile(t *testing.T) {
	// Buckets 10, 20, 40 ms with 10, 30, 40 cumulative and 50 in total (10 in +Inf).
	h := traffic.Histogram{Bounds: []float64{10, 20, 40}, Counts: []uint64{10, 30, 40}, Count: 50}
	tests := map[string]struct {
		h    traffic.Histogram
		q    float64
		want float64
	}{
		"first bucket interpolates from 0": {h: h, q: 0.1, want: 5},    // rank 5 of 10 in [0,10]
		"middle bucket":                    {h: h, q: 0.5, want: 17.5}, // rank 25: 15 of 20 in [10,20]
		"third bucket":                     {h: h, q: 0.7, want: 30},   // rank 35: 5 of 10 in [20,40]
		"+Inf bucket gives highest bound":  {h: h, q: 0.99, want: 40},
		"bucket edge":                      {h: h, q: 0.2, want: 10},
		"empty histogram":                  {h: traffic.Histogram{Bounds: []float64{1}, Counts: []uint64{0}}, q: 0.5, want: math.NaN()},
		"q out of range":                   {h: h, q: 1.5, want: math.NaN()},
		"skips empty buckets": {
			h: traffic.Histogram{Bounds: []float64{5, 10, 100}, Counts: []uint64{0, 0, 4}, Count: 4}, q: 0.5, want: 55,
		},
		"mismatched slices": {h: traffic.Histogram{Bounds: []float64{1, 2}, Counts: []uint64{1}, Count: 1}, q: 0.5, want: math.NaN()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Quantile(tc.h, tc.q)
			if math.IsNaN(tc.want) {
				if !math.IsNaN(got) {
					t.Fatalf("Quantile = %v, want NaN", got)
				}
				return
			}
			if math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("Quantile = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAddSat(t *testing.T) {
	tests := map[string]struct{ a, b, want uint64 }{
		"plain":     {a: 2, b: 3, want: 5},
		"saturates": {a: math.MaxUint64 - 1, b: 5, want: math.MaxUint64},
		"max+0":     {a: math.MaxUint64, b: 0, want: math.MaxUint64},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := addSat(tc.a, tc.b); got != tc.want {
				t.Fatalf("addSat(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
