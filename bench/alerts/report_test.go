package main

import (
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	r := results{Runs: 3, ReceiverMillis: []float64{40, 50, 60}, AlertmanagerMillis: []float64{70, 80, 90}}
	out := report(r)
	for _, frag := range []string{"| receiver call → weight 0 | 3 | 50 ms | 60 ms | 60 ms |", "| Flagger's rollback webhook, computed | — | 5000 ms | 9900 ms | 10000 ms |"} {
		if !strings.Contains(out, frag) {
			t.Errorf("report lacks %q:\n%s", frag, out)
		}
	}
}
