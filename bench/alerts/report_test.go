package main

import (
	"strings"
	"testing"
)

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	tests := map[float64]float64{0.5: 3, 0.99: 5, 0: 1, 0.2: 1, 0.21: 2}
	for q, want := range tests {
		if got := quantile(xs, q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing")
	}
}

func TestReport(t *testing.T) {
	r := results{Runs: 3, ReceiverMillis: []float64{40, 50, 60}, AlertmanagerMillis: []float64{70, 80, 90}}
	out := report(r)
	for _, frag := range []string{"| receiver call → weight 0 | 3 | 50 ms | 60 ms | 60 ms |", "| Flagger's rollback webhook, computed | — | 5000 ms | 9900 ms | 10000 ms |"} {
		if !strings.Contains(out, frag) {
			t.Errorf("report lacks %q:\n%s", frag, out)
		}
	}
}
