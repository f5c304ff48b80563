package controller

import (
	"testing"
	"time"
)

// TestRefreshBudget: refreshes that come due together get a second's worth at once and
// then the rate, whatever asks; what the budget refuses is refused, not delayed.
func TestRefreshBudget(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC)
	type ask struct {
		at   time.Duration // after t0
		n    int           // refreshes asked at once
		want int           // allowed
	}
	for name, tc := range map[string]struct {
		perSecond float64
		asks      []ask
	}{
		"1,000 due at once: a second's worth": {20, []ask{{0, 1000, 20}}},
		"then the rate, not the backlog": {20, []ask{
			{0, 1000, 20}, {50 * time.Millisecond, 1000, 1}, {100 * time.Millisecond, 1000, 1}, {time.Second, 1000, 18},
		}},
		"an idle budget refills to a second's worth only": {20, []ask{{0, 5, 5}, {time.Minute, 1000, 20}}},
		"a fractional rate holds at least one":            {0.5, []ask{{0, 3, 1}, {time.Second, 3, 0}, {2 * time.Second, 3, 1}}},
		"no bound":                                        {-1, []ask{{0, 1000, 1000}, {0, 1000, 1000}}},
	} {
		t.Run(name, func(t *testing.T) {
			var b refreshBudget
			for i, a := range tc.asks {
				got := 0
				for range a.n {
					if b.allow(tc.perSecond, t0.Add(a.at)) {
						got++
					}
				}
				if got != a.want {
					t.Fatalf("ask %d (%d at +%v): %d allowed, want %d", i, a.n, a.at, got, a.want)
				}
			}
		})
	}
}

func TestRefreshEvery(t *testing.T) {
	for name, tc := range map[string]struct {
		base   time.Duration
		active int
		rate   float64
		want   time.Duration
	}{
		"few rollouts keep the base":             {5 * time.Second, 10, 20, 5 * time.Second},
		"exactly rate × base keeps the base":     {5 * time.Second, 100, 20, 5 * time.Second},
		"1,000 rollouts at 20/s: every 50 s":     {5 * time.Second, 1000, 20, 50 * time.Second},
		"101 rollouts spread just past the base": {5 * time.Second, 101, 20, 5050 * time.Millisecond},
		"no budget":                              {5 * time.Second, 1000, -1, 5 * time.Second},
		"nothing active":                         {5 * time.Second, 0, 20, 5 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			if got := refreshEvery(tc.base, tc.active, tc.rate); got != tc.want {
				t.Fatalf("refreshEvery(%v, %d, %v) = %v, want %v", tc.base, tc.active, tc.rate, got, tc.want)
			}
		})
	}
}
