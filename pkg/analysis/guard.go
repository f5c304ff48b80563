package analysis

import (
	"fmt"
	"math"

	"github.com/sluicedev/sluice/pkg/window"
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
//   - the absolute limit: with at least MinRequests canary requests, the point estimate
//     x/n > L. Without stable traffic (weight 100 %, or stable silent) and without a
//     StableBaseline to compare with, the one-sided Clopper–Pearson lower bound of the
//     canary rate at 1 − α must exceed L instead.
//   - hard faults do not wait for MinRequests: with fewer canary requests the canary trips
//     when its Clopper–Pearson lower bound at 1 − α exceeds L (and the comparison with
//     stable holds). The bound already prices in the small sample: 2 errors of 2, or
//     10 of 10, clear a 1 % limit at 99.9 %; 1 of 5 does not. So 100 % errors at
//     20 canary req/s trip on the first 500 ms tick that holds them.
//   - the latest tick alone (Input.CanaryTick, against stable's whole window): the same
//     rules at α² (1e-6 at 99.9 %), so that a fault after minutes of healthy traffic is not
//     diluted by the window's earlier requests. It is evaluated on every tick, about
//     window/tick (20) times per window, so α² keeps its share of false trips near 20·α²,
//     far below α.

// errorRateCheck trips the canary on its 5xx rate.
func errorRateCheck(in Input) (Decision, bool) {
	th := in.Thresholds
	alpha := alphaOf(th.Confidence)
	stable := in.Stable
	if stable.Requests == 0 && in.StableBaseline.Requests > 0 {
		stable = in.StableBaseline
	}
	msg, trip := errorRateTrip(in.Canary, stable, th, alpha, true)
	if !trip && in.CanaryTick.Requests > 0 {
		msg, trip = errorRateTrip(in.CanaryTick, stable, th, alpha*alpha, false)
		msg = "latest tick: " + msg
	}
	if !trip {
		return Decision{}, false
	}
	return Decision{Action: failureAction(th.OnFailure), Reason: ReasonErrorRate, Message: msg}, true
}

// errorRateTrip applies the rules above to canary c against stable s at level alpha.
// useMin says whether MinRequests gates the point-estimate rule (false for a single tick,
// which is judged on confidence bounds alone).
func errorRateTrip(c, s window.Stats, th Thresholds, alpha float64, useMin bool) (string, bool) {
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
	enough := useMin && int64(min(n, math.MaxInt64)) >= th.MinRequests
	conf := fmt.Sprintf("%s%%", pct(1-alpha))

	m := s.Requests
	if m == 0 {
		if !boundAbove {
			return "", false
		}
		return fmt.Sprintf("canary 5xx %s%% (%d/%d) over %s, no stable traffic to compare; limit %s%%, lower bound %s%% at %s",
			pct(canaryRate), x, n, dur(c.Span), pct(limit), pct(lowerBound(x, n, alpha)), conf), true
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
		pct(canaryRate), x, n, pct(float64(y)/float64(m)), y, m, dur(c.Span), pct(limit), conf), true
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
