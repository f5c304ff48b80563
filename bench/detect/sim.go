package main

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

// Istio's default request-duration buckets, in ms.
var istioBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// Healthy latency: log-normal with median 20 ms and p99 ≈ 100 ms.
const (
	latencyMedianMs = 20.0
	latencySigma    = 0.69
)

// subset is one version's pod: cumulative Envoy-style counters and its sliding window.
type subset struct {
	errRate float64
	// bucketP[i] is the probability of a request landing in bucket i (the last is +Inf).
	bucketP []float64
	cum     traffic.Counts
	// win is what sluice reads (on its looks), bwin what the baseline rules read (each
	// second; only the canary's is used).
	win, bwin *window.Window
}

func newSubset(errRate, latencyScale float64, withLatency bool, length time.Duration) *subset {
	s := &subset{errRate: errRate, win: window.New(length), bwin: window.New(length)}
	if withLatency {
		s.setLatency(latencyScale)
		s.cum.Latency = traffic.Histogram{Bounds: istioBuckets, Counts: make([]uint64, len(istioBuckets))}
	}
	return s
}

// setLatency scales the healthy latency distribution (3 → p99 ×3).
func (s *subset) setLatency(scale float64) {
	s.bucketP = make([]float64, len(istioBuckets)+1)
	prev := 0.0
	for i, b := range istioBuckets {
		z := (math.Log(b) - math.Log(latencyMedianMs*scale)) / latencySigma
		c := 0.5 * math.Erfc(-z/math.Sqrt2)
		s.bucketP[i] = c - prev
		prev = c
	}
	s.bucketP[len(istioBuckets)] = 1 - prev
}

// serve adds n requests to the cumulative counters.
func (s *subset) serve(r *rand.Rand, n uint64) {
	e := binomial(r, n, s.errRate)
	s.cum.Requests += n
	s.cum.Rq5xx += e
	s.cum.Rq2xx += n - e
	if s.bucketP == nil {
		return
	}
	// Multinomial over the buckets by sequential binomials; s.cum keeps per-bucket
	// totals (observe turns them into Envoy's cumulative buckets), the rest is +Inf.
	left, pLeft := n, 1.0
	for i := range istioBuckets {
		if left == 0 || pLeft <= 0 {
			break
		}
		k := binomial(r, left, math.Min(1, s.bucketP[i]/pLeft))
		s.cum.Latency.Counts[i] += k
		left -= k
		pLeft -= s.bucketP[i]
	}
	s.cum.Latency.Count += n
}

// observe reads the pod (cumulative counts) into sluice's window and returns the tick's
// increment.
func (s *subset) observe(now time.Time) window.Stats {
	return s.win.Observe(now, map[string]traffic.Counts{"pod/1": s.counts()}, 0)
}

// observeBaseline reads the pod into the baseline rules' window.
func (s *subset) observeBaseline(now time.Time) {
	s.bwin.Observe(now, map[string]traffic.Counts{"pod/1": s.counts()}, 0)
}

// counts is the pod's counters as Envoy reports them, in slices of their own: the window
// keeps them as the next delta's base, so they must not alias s.cum, which serve updates
// in place (an empty histogram shared with s.cum made the first tick's delta a histogram
// shifted up by one bucket).
func (s *subset) counts() traffic.Counts {
	c := s.cum
	if c.Latency.Bounds != nil {
		// Envoy reports cumulative buckets; s.cum keeps per-bucket totals.
		h := traffic.Histogram{Bounds: c.Latency.Bounds, Counts: make([]uint64, len(c.Latency.Counts)), Count: c.Latency.Count}
		var run uint64
		for i, v := range c.Latency.Counts {
			run += v
			h.Counts[i] = run
		}
		c.Latency = h
	}
	return c
}

// poisson draws Poisson(mean): Knuth's method for small means, a rounded normal above 40.
func poisson(r *rand.Rand, mean float64) uint64 {
	if mean <= 0 {
		return 0
	}
	if mean < 40 {
		l, k, p := math.Exp(-mean), uint64(0), 1.0
		for {
			p *= r.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	return uint64(max(0, math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
}

// binomial draws Binomial(n, p): exact geometric gaps for small n·p, a rounded normal
// above a mean of 40.
func binomial(r *rand.Rand, n uint64, p float64) uint64 {
	if n == 0 || p <= 0 {
		return 0
	}
	if p >= 1 {
		return n
	}
	if p > 0.5 {
		return n - binomial(r, n, 1-p)
	}
	mean := float64(n) * p
	if mean >= 40 {
		x := math.Round(mean + math.Sqrt(mean*(1-p))*r.NormFloat64())
		return uint64(min(float64(n), max(0, x)))
	}
	lq := math.Log1p(-p)
	var k, pos uint64
	for {
		gap := uint64(math.Floor(math.Log(1-r.Float64())/lq)) + 1
		if pos+gap > n || pos+gap < pos {
			return k
		}
		pos += gap
		k++
	}
}
