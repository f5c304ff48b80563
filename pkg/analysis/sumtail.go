package analysis

import "math"

// Tail bounds for a sum S of n independent terms in [0, 1], each of mean at most p. The
// latency test (latency.go) counts samples above a limit, a sample inside the bucket that
// holds the limit counting as the fraction of the bucket above it, so its count is such a
// sum rather than a binomial; p is the share a q-quantile at the limit allows above it,
// 1 − q (0.01 for p99, 0.05 for p95, 0.5 for the median). Both bounds below hold for every such sum; the binomial
// Binomial(n, p) is one of them, so neither can undercut its exact tail.

// sumTail bounds P(S ≥ t): the tighter of the Hoeffding and the convex-order bounds.
func sumTail(t float64, n uint64, p float64) float64 {
	return math.Min(hoeffdingTail(t, n, p), convexTail(t, n, p))
}

// hoeffdingTail bounds P(S ≥ t) by exp(−n·KL(t/n ‖ p)) (Hoeffding 1963, Theorem 1); 1 when
// t/n ≤ p.
func hoeffdingTail(t float64, n uint64, p float64) float64 {
	if n == 0 || !(p > 0) {
		return boolTail(t > 0)
	}
	fn := float64(n)
	q := t / fn
	switch {
	case q <= p:
		return 1
	case p >= 1:
		return 1
	case q >= 1:
		return math.Exp(fn * math.Log(p))
	}
	kl := q*math.Log(q/p) + (1-q)*math.Log((1-q)/(1-p))
	return math.Exp(-fn * kl)
}

// convexTail bounds P(S ≥ t) by min over h < t of E(T − h)₊ / (t − h), T ~ Binomial(n, p).
//
// Why it holds: a term in [0, 1] of mean pᵢ ≤ p is below Bernoulli(p) in the increasing
// convex order (its convex functions' means are at most the Bernoulli's), and independent
// sums keep that order, so E(S − h)₊ ≤ E(T − h)₊ for every h; Markov's inequality on
// (S − h)₊ then gives P(S ≥ t) ≤ E(T − h)₊ / (t − h). This is the bound of Bentkus
// ("On Hoeffding's inequalities", Ann. Probab. 2004) before his constant. It is never
// looser than Hoeffding's, whose exponential is one of the convex functions it ranges over,
// and at the guard's levels it needs about a tenth fewer slow samples for a small count.
//
// The ratio is quasi-convex in h and linear-over-linear between integers, so the minimum
// is at an integer h: the scan starts at the largest integer below t and walks down while
// the bound falls. It returns 1 where it cannot tell (t at or below the mean, counts too
// large to sum, or a tail below float64's range, which Hoeffding's bound then covers).
func convexTail(t float64, n uint64, p float64) float64 {
	if n == 0 || !(p > 0) {
		return boolTail(t > 0)
	}
	fn := float64(n)
	if p >= 1 || t <= fn*p || n > maxConvexTerms*maxConvexTerms {
		return 1
	}
	if t > fn {
		return 0 // S ≤ n always
	}
	top := uint64(math.Ceil(t)) - 1 // the largest integer h < t; t > n·p > 0
	// E(T − top)₊ and P(T > top), summing the pmf upward from top+1 until it is negligible.
	odds := p / (1 - p)
	first := math.Exp(logBinomPMF(top+1, n, p))
	pmf, excess, above := first, 0.0, 0.0
	for k, steps := top+1, 0; k <= n; k, steps = k+1, steps+1 {
		if steps > maxConvexTerms {
			return 1
		}
		excess += float64(k-top) * pmf
		above += pmf
		if pmf < 1e-17*above {
			break
		}
		pmf *= float64(n-k) / float64(k+1) * odds
	}
	if !(excess > 0) {
		return 1
	}
	best := excess / (t - float64(top))
	// Walk h down: E(T − (h−1))₊ = E(T − h)₊ + P(T ≥ h), P(T ≥ h) = P(T > h) + pmf(h).
	pmf = first
	for h, steps := top, 0; h > 0 && steps < maxConvexTerms; h, steps = h-1, steps+1 {
		pmf *= float64(h+1) / float64(n-h) / odds // pmf(h) from pmf(h+1)
		above += pmf
		excess += above
		r := excess / (t - float64(h-1))
		if r >= best {
			break
		}
		best = r
	}
	return math.Min(best, 1)
}

// maxConvexTerms caps the terms convexTail sums; beyond it Hoeffding's bound serves alone.
const maxConvexTerms = 1 << 20

// logBinomPMF is log P(T = k) for T ~ Binomial(n, p), 0 < p < 1, k ≤ n.
func logBinomPMF(k, n uint64, p float64) float64 {
	ln, _ := math.Lgamma(float64(n) + 1)
	lk, _ := math.Lgamma(float64(k) + 1)
	lnk, _ := math.Lgamma(float64(n-k) + 1)
	return ln - lk - lnk + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p)
}

// boolTail is the tail of a sum that is surely 0: 0 beyond it, 1 at it.
func boolTail(beyond bool) float64 {
	if beyond {
		return 0
	}
	return 1
}
