// Package arrival answers "by when have k events of a Poisson stream arrived": the
// Erlang distribution of the k-th arrival time, which bounds how soon any rule that
// needs k failed requests can act.
package arrival

import "math"

// CDF is P(T ≤ t) for T the k-th arrival of a Poisson stream of rate lambda (k ≥ 1).
func CDF(k int, lambda, t float64) float64 {
	if t <= 0 {
		return 0
	}
	x, term, s := lambda*t, 1.0, 0.0
	for i := range k {
		if i > 0 {
			term *= x / float64(i)
		}
		s += term
	}
	return 1 - math.Exp(-x)*s
}

// Quantile is the q-quantile (0 < q < 1) of a distribution given by its cdf on [0, ∞),
// by bisection.
func Quantile(cdf func(float64) float64, q float64) float64 {
	lo, hi := 0.0, 1.0
	for cdf(hi) < q && hi < 1e12 {
		hi *= 2
	}
	for range 80 {
		mid := (lo + hi) / 2
		if cdf(mid) < q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// KthQuantile is the q-quantile of the k-th arrival time.
func KthQuantile(k int, lambda, q float64) float64 {
	return Quantile(func(t float64) float64 { return CDF(k, lambda, t) }, q)
}
