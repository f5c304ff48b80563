package main

import (
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
