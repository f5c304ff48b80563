package standin

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SubsetBehaviour is how the pods of one subset answer: the probability of a 503 and a
// log-normal latency given by its median and 99th percentile. A zero LatencyP50 means
// 5 ms; a zero LatencyP99 means 4 × LatencyP50; a LatencyP99 below LatencyP50 means
// every request takes LatencyP50.
type SubsetBehaviour struct {
	ErrorRate              float64
	LatencyP50, LatencyP99 time.Duration
}

const (
	defaultLatencyP50 = 5 * time.Millisecond
	// z99 is the standard normal 99th percentile.
	z99 = 2.3263478740408408
)

// logNormal returns the parameters (mu, sigma) of ln(latency in ms).
func (b SubsetBehaviour) logNormal() (mu, sigma float64) {
	p50 := b.LatencyP50
	if p50 <= 0 {
		p50 = defaultLatencyP50
	}
	p99 := b.LatencyP99
	if p99 == 0 {
		p99 = 4 * p50
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	mu = math.Log(ms(p50))
	if p99 > p50 {
		sigma = math.Log(ms(p99)/ms(p50)) / z99
	}
	return mu, sigma
}

// Request is one generated request: where it went and how it was answered.
type Request struct {
	Subset, Pod string
	Code        int
	LatencyMs   float64
}

// SliceInput is everything one time slice of traffic depends on.
type SliceInput struct {
	// Weights is subset → route weight; subsets with weight ≤ 0 get nothing.
	Weights map[string]int32
	// Pods is subset → its Ready pods, in round-robin order.
	Pods map[string][]string
	// Behaviour is subset → behaviour; a missing subset behaves as the zero value.
	Behaviour map[string]SubsetBehaviour
	// Rate is the total request rate in requests per second.
	Rate float64
	// Duration is the length of the slice.
	Duration time.Duration
}

// SliceResult is the traffic of one slice.
type SliceResult struct {
	Requests []Request
	// Dropped is subset → requests routed to a subset without Ready pods.
	Dropped map[string]uint64
}

// Router is the pure core of the traffic generator: it turns a slice's input and a
// random source into requests, keeping a round-robin cursor per subset.
type Router struct {
	next map[string]int
}

// NewRouter returns a Router with every cursor at the first pod.
func NewRouter() *Router { return &Router{next: map[string]int{}} }

// Slice generates one slice of traffic: a Poisson number of requests with mean
// Rate × Duration, each sent to a subset drawn by weight, then to the subset's next
// pod, answered 503 with the subset's error probability and with a log-normal latency.
func (rt *Router) Slice(rng *rand.Rand, in SliceInput) SliceResult {
	out := SliceResult{Dropped: map[string]uint64{}}
	subsets := make([]string, 0, len(in.Weights))
	var total int64
	for s, w := range in.Weights {
		if w > 0 {
			subsets = append(subsets, s)
			total += int64(w)
		}
	}
	if total == 0 || in.Rate <= 0 || in.Duration <= 0 {
		return out
	}
	slices.Sort(subsets) // map order is random; the draw must be reproducible
	n := poisson(rng, in.Rate*in.Duration.Seconds())
	for range n {
		subset := pickWeighted(rng, subsets, in.Weights, total)
		pods := in.Pods[subset]
		if len(pods) == 0 {
			out.Dropped[subset]++
			continue
		}
		i := rt.next[subset] % len(pods)
		rt.next[subset] = i + 1
		b := in.Behaviour[subset]
		code := 200
		if rng.Float64() < b.ErrorRate {
			code = 503
		}
		mu, sigma := b.logNormal()
		out.Requests = append(out.Requests, Request{
			Subset:    subset,
			Pod:       pods[i],
			Code:      code,
			LatencyMs: math.Exp(mu + sigma*rng.NormFloat64()),
		})
	}
	return out
}

func pickWeighted(rng *rand.Rand, subsets []string, weights map[string]int32, total int64) string {
	r := rng.Int64N(total)
	for _, s := range subsets {
		r -= int64(weights[s])
		if r < 0 {
			return s
		}
	}
	return subsets[len(subsets)-1]
}

// poisson draws from a Poisson distribution with mean lambda: Knuth's method for small
// means, a rounded normal approximation for large ones.
func poisson(rng *rand.Rand, lambda float64) int {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 30:
		limit, p, k := math.Exp(-lambda), 1.0, 0
		for {
			p *= rng.Float64()
			if p <= limit {
				return k
			}
			k++
		}
	default:
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*rng.NormFloat64())))
	}
}
