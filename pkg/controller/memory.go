package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/cacheindex"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/window"
)

// rolloutMemory is what sluice keeps in memory about one active rollout: the sliding
// windows and bookkeeping between status writes. Losing it (a restart) costs one window
// of data, never a weight change: the durable state is the TrafficShift status.
type rolloutMemory struct {
	// pods are the copies of the subsets' pods its ticks read, by subset (made again only
	// when the cache's pods change).
	pods      map[string]*cacheindex.PodCopies
	canary    string
	startedAt time.Time
	canaryW   *window.Window
	stableW   *window.Window
	stepReqs  int64
	step      int32
	// stableBaseline is stable's latest window with enough requests to compare against
	// once stable gets little or no traffic (the last step).
	stableBaseline window.Stats
	// pending is the weight being written right now, accepted by the external-edit check.
	pending *int32
	// lastTick is when the last full tick (stats, decision) ran.
	lastTick time.Time
	// recheckUntil: until then full ticks come every interval/analysis.RecheckDivisor
	// (the last decision that asked for a recheck plus one interval).
	recheckUntil time.Time
	// world is what the last full tick gathered; confirm-only passes reuse it.
	world *world
	// confirm is the last weight write the callers have not been seen to apply.
	confirm *pendingConfirm
	// drain follows the canary's traffic after a rollback until it stops.
	drain      *canaryDrain
	lastStatus time.Time
	// firstFailAt is the first tick of the current stretch in which the canary was over a
	// limit (error rate or latency); zero while it is not.
	firstFailAt time.Time
	// nextTickAt is when the next full tick was scheduled, for the tick-lag metric.
	nextTickAt time.Time
	// pages are the callers' pages the last tick read: the next takes newer ones.
	pages source.PageMarks
}

type memory struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*rolloutMemory
}

// get returns the memory for key's rollout of canary started at startedAt, making a fresh
// one when the rollout differs from the remembered one.
func (m *memory) get(key types.NamespacedName, canary string, startedAt time.Time, windowLen time.Duration, stepReqs int64, step int32) *rolloutMemory {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[types.NamespacedName]*rolloutMemory{}
	}
	rm := m.m[key]
	if rm == nil || rm.canary != canary || !rm.startedAt.Equal(startedAt) {
		rm = &rolloutMemory{
			canary: canary, startedAt: startedAt,
			canaryW: window.New(windowLen), stableW: window.New(windowLen),
			stepReqs: stepReqs, step: step,
		}
		m.m[key] = rm
	}
	rm.canaryW.SetLength(windowLen)
	rm.stableW.SetLength(windowLen)
	return rm
}

// minRecheck is the shortest time between rechecks: the shortest tick a policy may set.
const minRecheck = 50 * time.Millisecond

// tickEvery is the time between full ticks at now: interval, or a fraction of it (not
// under minRecheck) while a decision's recheck lasts.
func (rm *rolloutMemory) tickEvery(now time.Time, interval time.Duration) time.Duration {
	if now.Before(rm.recheckUntil) {
		return min(interval, max(interval/analysis.RecheckDivisor, minRecheck))
	}
	return interval
}

// noteFailure keeps firstFailAt: the first tick of the current stretch in which the
// canary's window was over the error-rate or latency limit.
func (rm *rolloutMemory) noteFailure(in analysis.Input, now time.Time) {
	c, th := in.Canary, in.Thresholds
	over := c.Requests > 0 && c.ErrorRate() > th.MaxErrorRate
	over = over || analysis.LatencyOver(c, th)
	switch {
	case !over:
		rm.firstFailAt = time.Time{}
	case rm.firstFailAt.IsZero():
		rm.firstFailAt = now
	}
}

// size is how many rollouts are remembered: the active ones.
func (m *memory) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.m)
}

func (m *memory) forget(key types.NamespacedName) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, key)
}

// peek returns key's memory without creating it.
func (m *memory) peek(key types.NamespacedName) *rolloutMemory {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[key]
}
