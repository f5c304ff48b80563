package window

import (
	"math"
	"slices"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of h in ms, interpolated like Prometheus'
// histogram_quantile (traffic.Histogram.Quantile); NaN when h has no observations or q is
// outside 0–1.
func Quantile(h traffic.Histogram, q float64) float64 {
	if q < 0 || q > 1 {
		return math.NaN()
	}
	return h.Quantile(q)
}

// histogramDelta returns cur − prev and true when both share bounds and no count went
// down; an empty prev (no histogram seen yet) yields cur itself.
func histogramDelta(cur, prev traffic.Histogram) (traffic.Histogram, bool) {
	if len(prev.Bounds) == 0 && prev.Count == 0 {
		return cur.Clone(), true
	}
	if !slices.Equal(cur.Bounds, prev.Bounds) || len(cur.Counts) != len(prev.Counts) || cur.Count < prev.Count {
		return traffic.Histogram{}, false
	}
	d := traffic.Histogram{
		Bounds: append([]float64(nil), cur.Bounds...),
		Counts: make([]uint64, len(cur.Counts)),
		Count:  cur.Count - prev.Count,
		Sum:    math.Max(0, cur.Sum-prev.Sum),
	}
	for i := range cur.Counts {
		if cur.Counts[i] < prev.Counts[i] {
			return traffic.Histogram{}, false
		}
		d.Counts[i] = cur.Counts[i] - prev.Counts[i]
	}
	return d, true
}

// addHistogram adds b into a (returning the result, a's slices may be reused) when their
// bounds agree; with different bounds it keeps the one with more observations, since
// re-bucketing would invent data.
func addHistogram(a, b traffic.Histogram) traffic.Histogram {
	if b.Count == 0 && len(b.Bounds) == 0 {
		return a
	}
	if a.Count == 0 && len(a.Bounds) == 0 {
		return b.Clone()
	}
	if !slices.Equal(a.Bounds, b.Bounds) || len(a.Counts) != len(b.Counts) {
		if b.Count > a.Count {
			return b.Clone()
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

// addSat adds without wrapping: a sum past the uint64 range sticks at the maximum.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}
