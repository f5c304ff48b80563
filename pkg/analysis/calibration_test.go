package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/window"
)

// binomial draws Binomial(n, p) by summing geometric gaps between successes: exact, and
// O(n·p) per draw, which is cheap at the error rates used here.
func binomial(r *rand.Rand, n uint64, p float64) uint64 {
	if p <= 0 || n == 0 {
		return 0
	}
	if p >= 1 {
		return n
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

// TestFalseTripRate draws many healthy windows — canary and stable with the same error
// rate, and canaries right at the edge of what the policy tolerates — and counts how
// often the error-rate guard trips at the default 99.9 %. Seeded, so deterministic.
func TestFalseTripRate(t *testing.T) {
	th := DefaultThresholds() // limit 1 %, increase 0.5 pt, 99.9 %, 20 requests
	r := rand.New(rand.NewPCG(20260101, 4))
	draws := 1000
	if testing.Short() {
		draws = 250 // quicker; the same limits apply
	}
	type cell struct {
		pc, ps float64
		n, m   uint64
	}
	var cells []cell
	for _, n := range []uint64{5, 20, 60, 200, 1000, 5000} {
		for _, m := range []uint64{20, 400, 20000} {
			for _, p := range []float64{0.002, 0.01, 0.03, 0.1} {
				cells = append(cells, cell{pc: p, ps: p, n: n, m: m})                           // same rate
				cells = append(cells, cell{pc: p + th.MaxErrorRateIncrease, ps: p, n: n, m: m}) // H0's edge
			}
		}
		// No stable traffic: the absolute limit alone, at its edge.
		cells = append(cells, cell{pc: th.MaxErrorRate, n: n})
	}
	var total, trips, sameTrips, sameTotal int
	for _, c := range cells {
		cellTrips := 0
		for range draws {
			if falseTrip(r, th, c.pc, c.ps, c.n, c.m) {
				cellTrips++
			}
		}
		total += draws
		trips += cellTrips
		if c.pc == c.ps {
			sameTotal += draws
			sameTrips += cellTrips
		}
		// Each cell alone: at most 0.1 % plus sampling slack (3 of 1000 is 0.3 %).
		if cellTrips > 3 {
			t.Errorf("canary %.3f vs stable %.3f, n=%d m=%d: %d false trips in %d", c.pc, c.ps, c.n, c.m, cellTrips, draws)
		}
	}
	rate := float64(trips) / float64(total)
	t.Logf("false trips: %d of %d windows (%.4f%%); with canary = stable: %d of %d", trips, total, 100*rate, sameTrips, sameTotal)
	if rate > 0.001 {
		t.Fatalf("false trip rate %.4f%% above 0.1%%", 100*rate)
	}
}

// falseTrip builds one window pair (and a latest tick of 1/20 of the canary window) and
// reports whether Decide tripped on the error rate.
func falseTrip(r *rand.Rand, th Thresholds, pc, ps float64, n, m uint64) bool {
	now := t0
	nt := (n + 19) / 20
	et := binomial(r, nt, pc)
	e := et + binomial(r, n-nt, pc)
	in := Input{
		Now: now, Phase: PhaseProgressing, Step: 1, Weight: 5, StepStartedAt: now,
		Steps:      schedule.Default(time.Minute, 100),
		Canary:     window.Stats{Requests: n, Rq5xx: e, LastData: now, Pods: 1, Span: 10 * time.Second},
		CanaryTick: window.Stats{Requests: nt, Rq5xx: et, LastData: now, Pods: 1, Span: 500 * time.Millisecond},
		Thresholds: th,
	}
	if m > 0 {
		in.Stable = window.Stats{Requests: m, Rq5xx: binomial(r, m, ps), LastData: now, Pods: 1, Span: 10 * time.Second}
	}
	return Decide(in).Reason == ReasonErrorRate
}
