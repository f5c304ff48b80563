package controller

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// refreshEvery is how often each of active rollouts refreshes a window-only status:
// base, or longer when active rollouts refreshing every base would together write more
// than perSecond (perSecond <= 0: no budget).
func refreshEvery(base time.Duration, active int, perSecond float64) time.Duration {
	if perSecond <= 0 || active <= 0 {
		return base
	}
	return max(base, time.Duration(float64(active)/perSecond*float64(time.Second)))
}

// refreshBudget holds all rollouts' window-only status refreshes to a rate at every
// moment, not only on average. refreshEvery spaces each rollout's refreshes, but
// rollouts that started together come due together: at 1,000 (bench/scale) all of them
// came due within seconds of each other every 50 s, and the four workers spent ~10 s at a
// time writing ~100 statuses a second while every other rollout's tick waited in the
// queue (tick lag p99 3-6 s). A refresh the budget refuses is left to a later tick, so
// the refreshes spread themselves out; the budget never makes a tick wait. Safe for
// concurrent use.
type refreshBudget struct {
	once sync.Once
	lim  *rate.Limiter // nil: no bound
}

// allow takes one refresh at now from a budget of perSecond (the first call fixes it),
// holding a second's worth; perSecond <= 0 allows every refresh.
func (b *refreshBudget) allow(perSecond float64, now time.Time) bool {
	b.once.Do(func() {
		if perSecond > 0 {
			b.lim = rate.NewLimiter(rate.Limit(perSecond), int(math.Ceil(perSecond)))
		}
	})
	return b.lim == nil || b.lim.AllowN(now, 1)
}
