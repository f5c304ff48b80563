package analysis

import (
	"math"

	"github.com/sluicedev/sluice/pkg/window"
)

// Looking again sooner.
//
// The guard decides on the tick (500 ms by default), and a fault that starts just after a
// tick whose data showed a failure or two still waits a whole tick for the rest of its
// evidence. At a low-weight step that tick is most of the time to zero: the canary gets
// few requests, a 99.9 % test needs a handful of failures, and they have arrived long
// before the next tick. So when the latest tick brought fresh canary failures and, in some
// window of the guard's family, the canary is over a limit with failures already
// improbable at a loose level (recheckLevel, far from the guard's own), the decision asks
// for a recheck: the controller looks again after 1/RecheckDivisor of the interval, and
// keeps doing so for one interval after the last decision that asked.
//
// A recheck is an ordinary tick: the same tests at the same levels over the same windows.
// What it adds is looks, and every look is a chance to trip on a healthy canary. The
// per-look tests are conservative, the extra looks come in short runs after improbable
// canary failures, and bench/detect counts both the looks and the false rollbacks of
// whole rollouts with rechecks on.

// RecheckDivisor divides the tick interval while a recheck is asked for.
const RecheckDivisor = 5

// recheckLevel is how improbable the canary's failures must be under the limit it is over
// (on its own, not shared out between windows) before the guard looks again sooner: loose
// enough to start rechecking a few failures into a hard fault, strict enough that a
// healthy canary rarely does while stable is clean (bench/detect: under 2.1 % more looks
// with stable at 0–0.5 % errors; up to 2.5 times the looks when stable itself fails 2 %,
// its own failures being over the 1 % limit).
const recheckLevel = 0.05

// recheck reports whether the latest tick brought canary failures (5xx, or latency
// samples above a latency limit) while, in some window of the family, the canary's
// failures are improbable at recheckLevel under the limit they are over.
func recheck(in Input) bool {
	th := in.Thresholds
	tick := in.CanaryTick
	rules := latencyRules(th)
	freshErrors := tick.Rq5xx > 0
	freshSamples := len(rules) > 0 && samples(tick) > 0
	if !freshErrors && !freshSamples {
		return false
	}
	for _, m := range family(in) {
		if freshErrors && errorRateLeaning(m, th) {
			return true
		}
		if freshSamples && latencyLeaning(tick, m, th, rules) {
			return true
		}
	}
	return false
}

// errorRateLeaning: the canary's rate in m is above the absolute limit, and its failure
// count improbable at recheckLevel for the higher of the limit and stable's rate plus the
// tolerated increase (point estimates).
func errorRateLeaning(m member, th Thresholds) bool {
	c, s := m.canary, m.stable
	n := c.Requests
	x := min(c.Rq5xx, n)
	if n == 0 || x == 0 || float64(x)/float64(n) <= th.MaxErrorRate {
		return false
	}
	p0 := th.MaxErrorRate
	if s.Requests > 0 {
		p0 = max(p0, float64(min(s.Rq5xx, s.Requests))/float64(s.Requests)+max(th.MaxErrorRateIncrease, 0))
	}
	return p0 < 1 && upperTail(x, n, p0) < recheckLevel
}

// latencyLeaning: for some latency rule, the latest tick's canary latency at the rule's
// quantile is above its limit, and m's canary latency at that quantile above it at
// recheckLevel, whatever the sample count.
func latencyLeaning(tick window.Stats, m member, th Thresholds, rules []latencyRule) bool {
	for _, r := range rules {
		l := r.limit
		if r.factor > 0 {
			sq, _ := stableQuantile(m, r.q, th.MinRequests)
			if math.IsNaN(sq) {
				continue
			}
			l = sq * r.factor
		}
		if !(tick.Quantile(r.q) > l) {
			continue
		}
		if _, ok := quantileAbove(m.canary, r.q, l, recheckLevel); ok {
			return true
		}
	}
	return false
}
