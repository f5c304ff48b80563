// Package rank computes the nearest-rank quantiles the benchmark reports quote.
package rank

import "slices"

// Quantile is the q-quantile of xs by the nearest-rank method (0 for no values): the
// smallest value with at least q of the values at or below it.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
