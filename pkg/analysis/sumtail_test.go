package analysis

import (
	"fmt"
	"math"
	"testing"
)

// tailShares are the shares above the limit the latency test uses (1 − q for the
// quantiles p50, p95, p99, p99.9) and a few between.
var tailShares = []float64{0.001, 0.01, 0.05, 0.2, 0.5}

// TestTailBoundsAgainstBinomial: a binomial is a sum of [0, 1] terms, so neither bound
// may undercut its exact tail; the convex-order bound is never above Hoeffding's.
func TestTailBoundsAgainstBinomial(t *testing.T) {
	for _, n := range []uint64{1, 5, 20, 500, 10000} {
		for _, p := range tailShares {
			for k := uint64(0); k <= n && k <= 200; k++ {
				e, h, c := upperTail(k, n, p), hoeffdingTail(float64(k), n, p), convexTail(float64(k), n, p)
				if h < e*(1-1e-9) || c < e*(1-1e-9) {
					t.Fatalf("n=%d p=%g k=%d: Hoeffding %g or convex %g below the exact tail %g", n, p, k, h, c, e)
				}
				if c > h*(1+1e-9) && h > 1e-300 {
					t.Fatalf("n=%d p=%g k=%d: convex bound %g above Hoeffding's %g", n, p, k, c, h)
				}
			}
		}
	}
}

func TestTailBoundValues(t *testing.T) {
	tests := map[string]struct {
		tail    func(float64, uint64, float64) float64
		t       float64
		n       uint64
		p, want float64
	}{
		"Hoeffding: at the mean":          {tail: hoeffdingTail, t: 5, n: 500, p: 0.01, want: 1},
		"Hoeffding: all terms 1":          {tail: hoeffdingTail, t: 3, n: 3, p: 0.1, want: 0.001},
		"Hoeffding: no samples":           {tail: hoeffdingTail, t: 1, n: 0, p: 0.01, want: 0},
		"Hoeffding: mean 0, nothing seen": {tail: hoeffdingTail, t: 0, n: 10, p: 0, want: 1},
		// One term: Markov's p/t, which a term at t with probability p/t attains.
		"convex: one term":            {tail: convexTail, t: 0.4, n: 1, p: 0.1, want: 0.25},
		"convex: one term, all of it": {tail: convexTail, t: 1, n: 1, p: 0.1, want: 0.1},
		// T: 0.81, 0.18, 0.01 at 0, 1, 2; h = 1 gives 0.01 / 0.5.
		"convex: two terms":            {tail: convexTail, t: 1.5, n: 2, p: 0.1, want: 0.02},
		"convex: at the mean":          {tail: convexTail, t: 5, n: 500, p: 0.01, want: 1},
		"convex: beyond every term":    {tail: convexTail, t: 3.5, n: 3, p: 0.1, want: 0},
		"convex: no samples":           {tail: convexTail, t: 1, n: 0, p: 0.01, want: 0},
		"convex: mean 0, nothing seen": {tail: convexTail, t: 0, n: 10, p: 0, want: 1},
		"sumTail: the tighter":         {tail: sumTail, t: 1.5, n: 2, p: 0.1, want: 0.02},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.tail(tc.t, tc.n, tc.p); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("tail(%g, %d, %g) = %g, want %g", tc.t, tc.n, tc.p, got, tc.want)
			}
		})
	}
}

// bruteConvexTail minimises E(T − h)₊ / (t − h) over every integer h in [0, t), summing
// the binomial pmf in full.
func bruteConvexTail(t float64, n uint64, p float64) float64 {
	pmf := make([]float64, n+1)
	for k := range pmf {
		pmf[k] = math.Exp(logBinomPMF(uint64(k), n, p))
	}
	best := 1.0
	for h := 0; float64(h) < t; h++ {
		var e float64
		for k := h + 1; k <= int(n); k++ {
			e += float64(k-h) * pmf[k]
		}
		best = math.Min(best, e/(t-float64(h)))
	}
	return best
}

// TestConvexTail: the scan down from t finds the minimum over every integer h.
func TestConvexTail(t *testing.T) {
	for _, n := range []uint64{1, 2, 7, 40, 300} {
		for _, p := range tailShares {
			for _, t0 := range []float64{0.5, 1, 1.3, 2, 2.5, 4, 7.75, 12, 40, 160, 170.5} {
				if t0 > float64(n) {
					continue
				}
				got, want := convexTail(t0, n, p), bruteConvexTail(t0, n, p)
				if want < 1e-290 {
					continue // below float64's range convexTail says 1 and Hoeffding's bound serves
				}
				if math.Abs(got-want) > 1e-9*want+1e-300 {
					t.Fatalf("n=%d p=%g t=%g: convexTail %g, brute force %g", n, p, t0, got, want)
				}
			}
		}
	}
}

// TestSumTailHoldsForFractionalTerms computes the exact tail of sums whose terms take
// fractional values (quarters of a sample, as a bucket split by the limit gives) with mean
// exactly p, for the shares above the limit of p99.9, p99, p95 and p50, and checks the
// bound covers it at every quarter.
func TestSumTailHoldsForFractionalTerms(t *testing.T) {
	terms := map[string]func(p float64) [5]float64{ // P(term = 0, ¼, ½, ¾, 1)
		"all at ¼":        func(p float64) [5]float64 { return [5]float64{1 - 4*p, 4 * p} },
		"all at ½":        func(p float64) [5]float64 { return [5]float64{1 - 2*p, 0, 2 * p} },
		"all at ¾":        func(p float64) [5]float64 { return [5]float64{1 - p/0.75, 0, 0, p / 0.75} },
		"Bernoulli":       func(p float64) [5]float64 { return [5]float64{1 - p, 0, 0, 0, p} },
		"¾ and 1, halved": func(p float64) [5]float64 { return [5]float64{1 - p/1.5, 0, 0, p / 1.5 / 2, p / 1.5 / 2} },
	}
	for _, p := range []float64{0.001, 0.01, 0.05, 0.5} {
		for name, terms := range terms {
			dist := terms(p)
			if dist[0] < 0 {
				continue // mean p is out of reach of terms this small
			}
			for _, n := range []int{1, 3, 10, 40, 120} {
				// Exact distribution of 4·S by convolution.
				sum := []float64{1}
				for range n {
					next := make([]float64, len(sum)+4)
					for s, ps := range sum {
						for v, pv := range dist {
							next[s+v] += ps * pv
						}
					}
					sum = next
				}
				tail := 0.0
				for q := len(sum) - 1; q >= 1; q-- {
					tail += sum[q]
					tq := float64(q) / 4
					if b := sumTail(tq, uint64(n), p); tail > b*(1+1e-9)+1e-300 { // slack for subnormals
						t.Fatalf("p=%g %s, n=%d: P(S ≥ %g) = %g above the bound %g", p, name, n, tq, tail, b)
					}
				}
			}
		}
	}
}

// TestConvexTailNeedsFewerSlowSamples: at the guard's per-window levels, the convex bound
// trips on fewer slow samples than Hoeffding's — the reason it is used.
func TestConvexTailNeedsFewerSlowSamples(t *testing.T) {
	need := func(n uint64, alpha float64, tail func(float64, uint64, float64) float64) float64 {
		lo, hi := 0.0, float64(n)
		for range 60 {
			mid := (lo + hi) / 2
			if tail(mid, n, 0.01) < alpha {
				hi = mid
			} else {
				lo = mid
			}
		}
		return hi
	}
	for _, n := range []uint64{10, 50, 100, 1000} {
		for _, alpha := range []float64{6.25e-5, 2.5e-4} {
			h, c := need(n, alpha, hoeffdingTail), need(n, alpha, sumTail)
			t.Logf("n=%d α=%g: Hoeffding needs %.2f samples above the limit, convex %.2f", n, alpha, h, c)
			if !(c < 0.95*h) {
				t.Errorf("n=%d α=%g: convex bound needs %.2f, Hoeffding %.2f", n, alpha, c, h)
			}
		}
	}
}

// BenchmarkSumTail: the latency test runs this per window and limit on every tick; the
// convex-order bound sums the binomial pmf over the tail, so its cost grows with the
// tail's width, √(n·p).
func BenchmarkSumTail(b *testing.B) {
	for _, p := range []float64{0.01, 0.05, 0.5} {
		for _, n := range []uint64{50, 1000, 100_000, 10_000_000} {
			t := float64(n)*p + 4*math.Sqrt(float64(n)*p) + 2 // near where the guard decides
			b.Run(fmt.Sprintf("p=%g/n=%d", p, n), func(b *testing.B) {
				for b.Loop() {
					sumTail(t, n, p)
				}
			})
		}
	}
}
