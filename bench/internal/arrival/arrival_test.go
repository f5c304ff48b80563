package arrival

import (
	"math"
	"testing"
)

func TestArrival(t *testing.T) {
	tests := map[string]struct{ got, want float64 }{
		// The first arrival is Exp(λ): median ln 2 / λ.
		"exponential median": {KthQuantile(1, 2, 0.5), math.Ln2 / 2},
		// k = 2, λ = 1: P(T ≤ 1) = 1 − e^{−1}(1 + 1).
		"erlang 2 cdf":      {CDF(2, 1, 1), 1 - 2/math.E},
		"erlang 2 quantile": {KthQuantile(2, 1, 1-2/math.E), 1},
		"nothing by time 0": {CDF(3, 10, 0), 0},
		// A uniform cdf on [0, 4): its 0.25-quantile is 1.
		"quantile of any cdf": {Quantile(func(x float64) float64 { return math.Min(x/4, 1) }, 0.25), 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-9 {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}
