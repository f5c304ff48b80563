package analysis

import (
	"fmt"
	"math"

	"github.com/sluicedev/sluice/pkg/reason"
)

// The error-rate guard.
//
// Let x of n canary requests and y of m stable requests in the window be 5xx, L the
// absolute limit (MaxErrorRate), δ the tolerated increase (MaxErrorRateIncrease) and
// α = 1 − Confidence. The canary trips when it is above L AND significantly above
// stable + δ:
//
//   - comparison with stable (m > 0): a Berger–Boos test of H0: p_canary ≤ p_stable + δ.
//     The nuisance p_stable is bounded by its one-sided Clopper–Pearson upper bound U at
//     level 1 − α/2; the canary count is then tested exactly, one-sided, against
//     Binomial(n, U + δ) at level α/2. Under H0, P(trip) ≤ P(U < p_stable) + α/2 ≤ α for
//     any n and m, since the binomial tail rises with p. It is exact (no normal
//     approximation, so it keeps its level at n = 5) and conservative; the price is some
//     power when stable has as few requests as the canary, where nothing at 99.9 % can
//     tell them apart within one window anyway. (Fisher's exact test would ignore δ, and
//     plugging in stable's point estimate would not keep the level when stable is small.)
//     Being conservative per tick is also what keeps whole rollouts safe: the guard looks
//     every tick, and a test exactly at level α per tick rolls back percents of healthy
//     rollouts over their hundreds of ticks (bench/README.md). The default δ is 0: any
//     significant increase over stable that is also above L trips.
//   - the absolute limit: with at least MinRequests canary requests, the point estimate
//     x/n > L. Without stable traffic (weight 100 %, or stable silent) and without a
//     StableBaseline to compare with, the one-sided Clopper–Pearson lower bound of the
//     canary rate at 1 − α must exceed L instead.
//   - hard faults do not wait for MinRequests: with fewer canary requests the canary trips
//     when its Clopper–Pearson lower bound at 1 − α exceeds L (and the comparison with
//     stable holds). The bound already prices in the small sample: 2 errors of 2, or
//     10 of 10, clear a 1 % limit at 99.9 %; 1 of 5 does not. So 100 % errors at
//     20 canary req/s trip on the first 500 ms tick that holds them.
//   - the family of windows (trailing.go): the rules above are applied to the full window
//     and to each trailing sub-window, each at its share of α (weighted Bonferroni), so that a fault after minutes of healthy traffic is not diluted by the window's
//     earlier requests, while the chance that one tick trips on a canary within the policy
//     stays ≤ α. Every window uses the same rules; MinRequests counts the requests of the
//     window being judged.

// errorRateCheck trips the canary on its 5xx rate.
func errorRateCheck(in Input) (Decision, bool) {
	th := in.Thresholds
	fam := family(in)
	for _, m := range fam {
		if msg, trip := errorRateTrip(m, th, alphaOf(th.Confidence)*m.share); trip {
			return Decision{Action: failureAction(th.OnFailure), Reason: reason.ErrorRate, Message: msg + familyNote(th, len(fam))}, true
		}
	}
	return Decision{}, false
}

// familyNote says, for a message, at what level the whole family was tested.
func familyNote(th Thresholds, k int) string {
	if k <= 1 {
		return ""
	}
	return fmt.Sprintf(" (%s%% over the %d windows tested)", pct(1-alphaOf(th.Confidence)), k)
}

// errorRateTrip applies the rules above to one window of the family at level alpha.
func errorRateTrip(w member, th Thresholds, alpha float64) (string, bool) {
	c, s := w.canary, w.stable
	n := c.Requests
	x := min(c.Rq5xx, n)
	if n == 0 || x == 0 {
		return "", false
	}
	limit := th.MaxErrorRate
	canaryRate := float64(x) / float64(n)
	if canaryRate <= limit {
		return "", false
	}
	// Lower bound > limit ⇔ P(X ≥ x | n, limit) < alpha.
	boundAbove := upperTail(x, n, limit) < alpha
	enough := int64(min(n, math.MaxInt64)) >= th.MinRequests
	conf := fmt.Sprintf("%s%%", pct(1-alpha))

	m := s.Requests
	if m == 0 {
		if !boundAbove {
			return "", false
		}
		return fmt.Sprintf("canary 5xx %s%% (%d/%d) over %s, no stable traffic to compare; limit %s%%, lower bound %s%% at %s",
			pct(canaryRate), x, n, w.where, pct(limit), pct(lowerBound(x, n, alpha)), conf), true
	}
	if !enough && !boundAbove {
		return "", false
	}
	y := min(s.Rq5xx, m)
	u := upperBound(y, m, alpha/2)
	p0 := math.Min(1, u+max(th.MaxErrorRateIncrease, 0))
	if upperTail(x, n, p0) >= alpha/2 {
		return "", false
	}
	return fmt.Sprintf("canary 5xx %s%% (%d/%d) vs stable %s%% (%d/%d) over %s; limit %s%%, difference significant at %s",
		pct(canaryRate), x, n, pct(float64(y)/float64(m)), y, m, w.where, pct(limit), conf), true
}

// alphaOf turns a confidence level into the tests' alpha, falling back to 99.9 % when the
// level is not strictly between 0 and 1.
func alphaOf(confidence float64) float64 {
	a := 1 - confidence
	if !(a > 0 && a < 1) {
		return 0.001
	}
	return a
}

// pct formats a 0–1 fraction as a percentage: one decimal, more when that would show a
// small rate as 0.0 or round a confidence level such as 99.95 %.
func pct(f float64) string {
	p := f * 100
	for prec := 1; prec < 4; prec++ {
		r := roundTo(p, prec)
		if math.Abs(r-p) < 1e-9 || (p < 99 && r != 0) {
			return fmt.Sprintf("%.*f", prec, p)
		}
	}
	return fmt.Sprintf("%.4f", p)
}

func roundTo(x float64, prec int) float64 {
	f := math.Pow(10, float64(prec))
	return math.Round(x*f) / f
}
