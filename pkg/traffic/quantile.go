package traffic

import "math"

// Quantile estimates the q-quantile (0 ≤ q ≤ 1) of h in ms by linear interpolation
// within buckets, as Prometheus' histogram_quantile does: the lowest bucket starts at 0,
// a rank in the +Inf bucket returns the highest finite bound. It is NaN when h is empty,
// has no finite bound, its bounds and counts differ in length, or q is NaN; −Inf/+Inf for q < 0 / q > 1.
func (h Histogram) Quantile(q float64) float64 {
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(1)
	}
	n := len(h.Bounds)
	if h.Count == 0 || n == 0 || len(h.Counts) != n {
		return math.NaN()
	}
	// Counts must be monotonic; scrapes of separate series can be slightly off.
	cum := func(i int) float64 {
		if i == n {
			return float64(h.Count)
		}
		return float64(h.Counts[i])
	}
	total := max(cum(n), cum(n-1))
	rank := q * total
	var prev float64
	for i := 0; i < n; i++ {
		c := max(cum(i), prev)
		if c >= rank {
			end := h.Bounds[i]
			start := 0.0
			if i > 0 {
				start = h.Bounds[i-1]
			} else if end <= 0 {
				return end
			}
			if c == prev {
				return end
			}
			return start + (end-start)*(rank-prev)/(c-prev)
		}
		prev = c
	}
	return h.Bounds[n-1]
}
