package rank

import "testing"

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	tests := map[float64]float64{0.5: 3, 0.99: 5, 0: 1, 0.2: 1, 0.21: 2, 1: 5}
	for q, want := range tests {
		if got := Quantile(xs, q); got != want {
			t.Errorf("Quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if Quantile(nil, 0.5) != 0 {
		t.Error("the quantile of nothing is 0")
	}
	if xs[0] != 5 {
		t.Error("Quantile sorted its input")
	}
}
