package main

import (
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// series builds 1 s scrapes from per-second canary calls and 5xx.
func series(t0 time.Time, calls, errs []uint64) []sample {
	ss := []sample{{At: t0}}
	var c traffic.Counts
	for i := range calls {
		c.Requests += calls[i]
		c.Rq5xx += errs[i]
		ss = append(ss, sample{At: t0.Add(time.Duration(i+1) * time.Second), Canary: c})
	}
	return ss
}

func TestRuleDecisions(t *testing.T) {
	t0 := time.Unix(1000, 0)
	healthy := make([]uint64, 40)
	for i := range healthy {
		healthy[i] = 10
	}
	none := make([]uint64, 40)
	faulty := make([]uint64, 40) // all calls fail from second 5 on
	for i := 5; i < 40; i++ {
		faulty[i] = 10
	}
	cases := map[string]struct {
		r           rule
		calls, errs []uint64
		first       time.Time
		want        time.Duration // decision − t0; -1 = none
	}{
		"argo passes a healthy canary":          {argoRule(0), healthy, none, t0.Add(2 * time.Second), -1},
		"argo aborts on the first faulty check": {argoRule(0), healthy, faulty, t0.Add(2 * time.Second), 6 * time.Second},
		"argo aborts on no data (NaN)":          {argoRule(0), none, none, t0.Add(2 * time.Second), 2 * time.Second},
		"flagger needs two failed checks":       {flaggerRule(0), healthy, faulty, t0.Add(3 * time.Second), 23 * time.Second},
		"flagger passes a healthy canary":       {flaggerRule(0), healthy, none, t0.Add(3 * time.Second), -1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v := tc.r.evaluate(series(t0, tc.calls, tc.errs), tc.first, t0.Add(39*time.Second))
			got := time.Duration(-1)
			if !v.Decided.IsZero() {
				got = v.Decided.Sub(t0)
			}
			if got != tc.want {
				t.Errorf("decided at %v, want %v (checks %+v)", got, tc.want, v.Checks)
			}
		})
	}
}

func TestExtendRepeatsTheLastScrape(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ss := extend(series(t0, []uint64{3, 4}, []uint64{1, 0}), time.Second, t0.Add(5*time.Second))
	if len(ss) != 6 {
		t.Fatalf("got %d samples, want 6", len(ss))
	}
	if last := ss[len(ss)-1]; last.Canary.Requests != 7 || last.Canary.Rq5xx != 1 || !last.At.Equal(t0.Add(5*time.Second)) {
		t.Errorf("last sample %+v, want 7 calls, 1 error at +5s", last)
	}
}
