package main

import (
	"math"
	"testing"

	"github.com/sluicedev/sluice/pkg/analysis"
)

func TestMinFailures(t *testing.T) {
	for _, rates := range [][2]float64{{50, 950}, {250, 750}, {10, 190}} {
		k := minFailures(rates[0], rates[1])
		if k < 2 {
			t.Fatalf("%v: %d failures trip; a 99.9 %% test needs more than one", rates, k)
		}
		if got := analysis.Decide(evidenceInput(rates[0], rates[1], uint64(k))).Action; got != analysis.Rollback {
			t.Fatalf("%v: %d failures: %s, want Rollback", rates, k, got)
		}
		if got := analysis.Decide(evidenceInput(rates[0], rates[1], uint64(k-1))).Action; got == analysis.Rollback {
			t.Fatalf("%v: %d failures already roll back, so %d is not the fewest", rates, k-1, k)
		}
	}
}

func TestGammaQuantile(t *testing.T) {
	tests := map[string]struct{ got, want float64 }{
		// The first arrival is Exp(λ): median ln 2 / λ.
		"exponential median": {gammaQuantile(1, 2, 0.5), math.Ln2 / 2},
		// k = 2, λ = 1: P(T ≤ t) = 1 − e^{−t}(1 + t); at t = 1 that is 1 − 2/e.
		"erlang 2": {gammaQuantile(2, 1, 1-2/math.E), 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-9 {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}
