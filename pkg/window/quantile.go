package window

import (
	"math"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of h in ms, interpolated like Prometheus'
// histogram_quantile: linearly within the bucket that holds the rank, with 0 as the lower
// bound of the first bucket; a rank in the +Inf bucket returns the highest finite bound.
// It returns NaN when h has no observations or q is outside 0–1.
func Quantile(h envoy.Histogram, q float64) float64 {
	if h.Count == 0 || math.IsNaN(q) || q < 0 || q > 1 || len(h.Bounds) != len(h.Counts) {
		return math.NaN()
	}
	rank := q * float64(h.Count)
	var prevBound float64
	var prevCount uint64
	for i, bound := range h.Bounds {
		c := h.Counts[i]
		if float64(c) >= rank && c > prevCount {
			inBucket := float64(c - prevCount)
			return prevBound + (bound-prevBound)*(rank-float64(prevCount))/inBucket
		}
		if c > prevCount {
			prevCount = c
		}
		prevBound = bound
	}
	// The rank lies in the +Inf bucket: the highest finite bound is the best answer.
	if len(h.Bounds) == 0 {
		return math.NaN()
	}
	return h.Bounds[len(h.Bounds)-1]
}

// histogramDelta returns cur − prev and true when both share bounds and no count went
// down; an empty prev (no histogram seen yet) yields cur itself.
func histogramDelta(cur, prev envoy.Histogram) (envoy.Histogram, bool) {
	if len(prev.Bounds) == 0 && prev.Count == 0 {
		return cloneHistogram(cur), true
	}
	if !sameBounds(cur.Bounds, prev.Bounds) || len(cur.Counts) != len(prev.Counts) || cur.Count < prev.Count {
		return envoy.Histogram{}, false
	}
	d := envoy.Histogram{
		Bounds: append([]float64(nil), cur.Bounds...),
		Counts: make([]uint64, len(cur.Counts)),
		Count:  cur.Count - prev.Count,
		Sum:    math.Max(0, cur.Sum-prev.Sum),
	}
	for i := range cur.Counts {
		if cur.Counts[i] < prev.Counts[i] {
			return envoy.Histogram{}, false
		}
		d.Counts[i] = cur.Counts[i] - prev.Counts[i]
	}
	return d, true
}

// addHistogram adds b into a (returning the result, a's slices may be reused) when their
// bounds agree; with different bounds it keeps the one with more observations, since
// re-bucketing would invent data.
func addHistogram(a, b envoy.Histogram) envoy.Histogram {
	if b.Count == 0 && len(b.Bounds) == 0 {
		return a
	}
	if a.Count == 0 && len(a.Bounds) == 0 {
		return cloneHistogram(b)
	}
	if !sameBounds(a.Bounds, b.Bounds) || len(a.Counts) != len(b.Counts) {
		if b.Count > a.Count {
			return cloneHistogram(b)
		}
		return a
	}
	for i := range a.Counts {
		a.Counts[i] = addSat(a.Counts[i], b.Counts[i])
	}
	a.Count = addSat(a.Count, b.Count)
	a.Sum += b.Sum
	return a
}

func cloneHistogram(h envoy.Histogram) envoy.Histogram {
	if len(h.Bounds) == 0 && h.Count == 0 {
		return envoy.Histogram{}
	}
	h.Bounds = append([]float64(nil), h.Bounds...)
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

func sameBounds(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// addSat adds without wrapping: a sum past the uint64 range sticks at the maximum.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}
