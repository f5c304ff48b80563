package standin

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// run drives the router slice by slice until at least n requests (served or dropped)
// were generated, and returns them all.
func run(rt *Router, rng *rand.Rand, in SliceInput, n int) (reqs []Request, dropped map[string]uint64) {
	dropped = map[string]uint64{}
	total := 0
	for slices := 0; total < n && slices < 1e6; slices++ {
		res := rt.Slice(rng, in)
		reqs = append(reqs, res.Requests...)
		total += len(res.Requests)
		for s, d := range res.Dropped {
			dropped[s] += d
			total += int(d)
		}
	}
	return reqs, dropped
}

func podsOf(counts map[string]int) map[string][]string {
	out := map[string][]string{}
	for s, n := range counts {
		for i := range n {
			out[s] = append(out[s], s+"-"+string(rune('a'+i)))
		}
	}
	return out
}

func TestSplitFollowsWeights(t *testing.T) {
	const n = 20000
	tests := map[string]struct {
		weights map[string]int32
		pods    map[string]int
	}{
		"90/10":               {weights: map[string]int32{"v1": 90, "v2": 10}, pods: map[string]int{"v1": 3, "v2": 1}},
		"95/5":                {weights: map[string]int32{"v1": 95, "v2": 5}, pods: map[string]int{"v1": 2, "v2": 2}},
		"three subsets":       {weights: map[string]int32{"v1": 50, "v2": 25, "v3": 25}, pods: map[string]int{"v1": 1, "v2": 1, "v3": 1}},
		"weight 0 gets none":  {weights: map[string]int32{"v1": 0, "v2": 100}, pods: map[string]int{"v1": 2, "v2": 2}},
		"weights not 100 sum": {weights: map[string]int32{"v1": 1, "v2": 3}, pods: map[string]int{"v1": 1, "v2": 1}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := SliceInput{Weights: tc.weights, Pods: podsOf(tc.pods), Rate: 1000, Duration: 20 * time.Millisecond}
			reqs, dropped := run(NewRouter(), rand.New(rand.NewPCG(1, 2)), in, n)
			if len(dropped) != 0 {
				t.Fatalf("dropped %v with pods everywhere", dropped)
			}
			bySubset, byPod := map[string]int{}, map[string]int{}
			for _, r := range reqs {
				bySubset[r.Subset]++
				byPod[r.Pod]++
			}
			var sum int32
			for _, w := range tc.weights {
				sum += w
			}
			total := float64(len(reqs))
			for s, w := range tc.weights {
				p := float64(w) / float64(sum)
				tol := 4.5 * math.Sqrt(total*p*(1-p)) // binomial, 4.5 sigma
				if got := float64(bySubset[s]); math.Abs(got-total*p) > tol {
					t.Errorf("subset %s: %v of %v requests, want %.0f ± %.0f", s, got, total, total*p, tol)
				}
				if w == 0 && bySubset[s] != 0 {
					t.Errorf("subset %s at weight 0 got %d requests", s, bySubset[s])
				}
				// round-robin: a subset's pods differ by at most one request
				var counts []int
				for _, pod := range in.Pods[s] {
					counts = append(counts, byPod[pod])
				}
				if slices.Max(counts)-slices.Min(counts) > 1 {
					t.Errorf("subset %s: per-pod counts %v are not round-robin", s, counts)
				}
			}
		})
	}
}

func TestErrorProbability(t *testing.T) {
	const n = 20000
	for name, rate := range map[string]float64{"healthy": 0, "40 % errors": 0.4, "5 %": 0.05, "all fail": 1} {
		t.Run(name, func(t *testing.T) {
			in := SliceInput{
				Weights: map[string]int32{"v1": 50, "v2": 50}, Pods: podsOf(map[string]int{"v1": 1, "v2": 1}),
				Behaviour: map[string]SubsetBehaviour{"v2": {ErrorRate: rate}},
				Rate:      2000, Duration: 10 * time.Millisecond,
			}
			reqs, _ := run(NewRouter(), rand.New(rand.NewPCG(7, 8)), in, n)
			errs, total := map[string]int{}, map[string]int{}
			for _, r := range reqs {
				total[r.Subset]++
				switch r.Code {
				case 503:
					errs[r.Subset]++
				case 200:
				default:
					t.Fatalf("response code %d", r.Code)
				}
			}
			if errs["v1"] != 0 {
				t.Errorf("v1 (no errors set) had %d errors", errs["v1"])
			}
			m := float64(total["v2"])
			tol := 4.5*math.Sqrt(m*rate*(1-rate)) + 0.5
			if got := float64(errs["v2"]); math.Abs(got-m*rate) > tol {
				t.Errorf("v2: %v errors of %v, want %.0f ± %.0f", got, m, m*rate, tol)
			}
		})
	}
}

func TestLatencyDistribution(t *testing.T) {
	tests := map[string]struct {
		b                SubsetBehaviour
		wantP50, wantP99 float64
	}{
		"defaults":       {b: SubsetBehaviour{}, wantP50: 5, wantP99: 20},
		"20 ms / 200 ms": {b: SubsetBehaviour{LatencyP50: 20 * time.Millisecond, LatencyP99: 200 * time.Millisecond}, wantP50: 20, wantP99: 200},
		"constant":       {b: SubsetBehaviour{LatencyP50: 40 * time.Millisecond, LatencyP99: time.Millisecond}, wantP50: 40, wantP99: 40},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := SliceInput{
				Weights: map[string]int32{"v1": 100}, Pods: podsOf(map[string]int{"v1": 1}),
				Behaviour: map[string]SubsetBehaviour{"v1": tc.b}, Rate: 5000, Duration: 10 * time.Millisecond,
			}
			reqs, _ := run(NewRouter(), rand.New(rand.NewPCG(3, 4)), in, 50000)
			lat := make([]float64, len(reqs))
			for i, r := range reqs {
				lat[i] = r.LatencyMs
			}
			slices.Sort(lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			if math.Abs(p50-tc.wantP50) > 0.05*tc.wantP50 || math.Abs(p99-tc.wantP99) > 0.1*tc.wantP99 {
				t.Errorf("p50 %.2f p99 %.2f, want %v and %v", p50, p99, tc.wantP50, tc.wantP99)
			}
		})
	}
}

func TestPoissonSliceCounts(t *testing.T) {
	for name, lambda := range map[string]float64{"small": 0.7, "medium": 12, "large": 200} {
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			const k = 20000
			var sum, sq float64
			for range k {
				x := float64(poisson(rng, lambda))
				sum += x
				sq += x * x
			}
			mean := sum / k
			variance := sq/k - mean*mean
			if math.Abs(mean-lambda) > 4.5*math.Sqrt(lambda/k) {
				t.Errorf("mean %v, want %v", mean, lambda)
			}
			if math.Abs(variance-lambda) > 0.1*lambda {
				t.Errorf("variance %v, want ≈ %v", variance, lambda)
			}
		})
	}
}

func TestNoTraffic(t *testing.T) {
	pods := podsOf(map[string]int{"v1": 1})
	tests := map[string]SliceInput{
		"no weights":      {Pods: pods, Rate: 1000, Duration: time.Second},
		"all weights 0":   {Weights: map[string]int32{"v1": 0, "v2": 0}, Pods: pods, Rate: 1000, Duration: time.Second},
		"rate 0":          {Weights: map[string]int32{"v1": 100}, Pods: pods, Duration: time.Second},
		"empty slice":     {Weights: map[string]int32{"v1": 100}, Pods: pods, Rate: 1000},
		"negative weight": {Weights: map[string]int32{"v1": -5}, Pods: pods, Rate: 1000, Duration: time.Second},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			res := NewRouter().Slice(rand.New(rand.NewPCG(1, 1)), in)
			if len(res.Requests) != 0 || len(res.Dropped) != 0 {
				t.Errorf("got %d requests, dropped %v", len(res.Requests), res.Dropped)
			}
		})
	}
}

func TestSubsetWithoutPodsIsDropped(t *testing.T) {
	in := SliceInput{Weights: map[string]int32{"v1": 50, "v2": 50}, Pods: podsOf(map[string]int{"v1": 1}), Rate: 1000, Duration: 10 * time.Millisecond}
	reqs, dropped := run(NewRouter(), rand.New(rand.NewPCG(9, 9)), in, 4000)
	for _, r := range reqs {
		if r.Subset != "v1" {
			t.Fatalf("request served by %s, which has no pods", r.Subset)
		}
	}
	if total := float64(len(reqs)) + float64(dropped["v2"]); math.Abs(float64(dropped["v2"])-total/2) > 4.5*math.Sqrt(total/4) {
		t.Errorf("dropped %d of %v, want about half", dropped["v2"], total)
	}
}

func TestReproducible(t *testing.T) {
	in := SliceInput{
		Weights: map[string]int32{"v1": 70, "v2": 30}, Pods: podsOf(map[string]int{"v1": 2, "v2": 2}),
		Behaviour: map[string]SubsetBehaviour{"v2": {ErrorRate: 0.3}}, Rate: 500, Duration: 20 * time.Millisecond,
	}
	a, _ := run(NewRouter(), rand.New(rand.NewPCG(11, 12)), in, 1000)
	b, _ := run(NewRouter(), rand.New(rand.NewPCG(11, 12)), in, 1000)
	c, _ := run(NewRouter(), rand.New(rand.NewPCG(13, 12)), in, 1000)
	if !reflect.DeepEqual(a, b) {
		t.Error("same seed, different traffic")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("different seeds, same traffic")
	}
}
