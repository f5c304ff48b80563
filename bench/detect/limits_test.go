package main

import (
	"math"
	"testing"
)

func TestLimitHelpers(t *testing.T) {
	tests := map[string]struct {
		got, want, tol float64
	}{
		// P(X ≥ 1) for Binomial(2, 0.5) is 3/4.
		"binomial tail": {binomUpperTail(1, 2, 0.5), 0.75, 1e-12},
		// C(20,2)/C(400,2) = 190/79800.
		"fisher, all errors canary": {fisherAllCanary(2, 20, 380), 190.0 / 79800, 1e-12},
		// Without the tick, the median of Exp(1) is ln 2.
		"first arrival median": {sumQuantile(1, 1, 1e-9, 0.5), math.Ln2, 1e-6},
		// With a certain arrival time ~0 (huge rate), the sum is uniform: p99 = 0.99 × tick.
		"tick alone": {sumQuantile(1, 1e9, 0.5, 0.99), 0.495, 1e-3},
		// The smallest count with tail ≤ 0.25 for Binomial(2, 0.5) is 2 (tail 0.25).
		"critical count": {float64(criticalCount(2, 0.5, 0.25)), 2, 0},
		// Rechecks that start only with the trip count change nothing: the plain tick's bound.
		"recheck at the trip count is the tick": {recheckQuantile(3, 3, 20, 0.99), sumQuantile(3, 20, 0.5, 0.99), 0.01},
		// Every failure there at once: the wait for the first tick, uniform on [0, 0.5).
		"recheck, instant failures": {recheckQuantile(1, 3, 1e9, 0.99), 0.495, 2e-3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > tc.tol {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}
