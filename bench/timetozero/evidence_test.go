package main

import (
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/reason"
)

func TestMinFailures(t *testing.T) {
	for _, rates := range [][2]float64{{50, 950}, {250, 750}, {10, 190}} {
		k := minFailures(rates[0], rates[1])
		if k < 2 {
			t.Fatalf("%v: %d failures trip; a 99.9 %% test needs more than one", rates, k)
		}
		if got := analysis.Decide(evidenceInput(rates[0], rates[1], uint64(k), nil)).Action; got != analysis.Rollback {
			t.Fatalf("%v: %d failures: %s, want Rollback", rates, k, got)
		}
		if got := analysis.Decide(evidenceInput(rates[0], rates[1], uint64(k-1), nil)).Action; got == analysis.Rollback {
			t.Fatalf("%v: %d failures already roll back, so %d is not the fewest", rates, k-1, k)
		}
	}
}

func TestMinSlowCalls(t *testing.T) {
	// The bench's limit (74 ms) sits inside the (50, 100] bucket where the slow calls land:
	// each counts as 0.52 of a sample above it.
	sl := slowness{limit: 74 * time.Millisecond, healthyMs: 10.5, slowMs: 50.5}
	for _, rates := range [][2]float64{{50, 950}, {250, 750}} {
		k := minSlowCalls(rates[0], rates[1], sl)
		if k < 2 {
			t.Fatalf("%v: %d slow calls trip; a 99.9 %% test needs more than one", rates, k)
		}
		if got := analysis.Decide(evidenceInput(rates[0], rates[1], uint64(k), &sl)); got.Action != analysis.Rollback || got.Reason != reason.Latency {
			t.Fatalf("%v: %d slow calls: %s/%s, want Rollback/Latency", rates, k, got.Action, got.Reason)
		}
		if got := analysis.Decide(evidenceInput(rates[0], rates[1], uint64(k-1), &sl)).Action; got == analysis.Rollback {
			t.Fatalf("%v: %d slow calls already roll back, so %d is not the fewest", rates, k-1, k)
		}
	}
	// Slow calls under the limit never trip.
	fast := slowness{limit: 74 * time.Millisecond, healthyMs: 10.5, slowMs: 20}
	if k := minSlowCalls(50, 950, fast); k != 0 {
		t.Fatalf("calls of 20 ms under a 74 ms limit: %d of them trip", k)
	}
}
