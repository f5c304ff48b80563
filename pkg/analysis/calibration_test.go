package analysis

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
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

// TestFalseTripRate draws many healthy windows with their trailing sub-windows — canary
// and stable with the same error rate, and canaries right at the edge of what the policy
// tolerates — and counts how often the error-rate guard (the whole family of windows)
// trips at the default 99.9 %. Seeded, so deterministic.
func TestFalseTripRate(t *testing.T) {
	th := DefaultThresholds() // limit 1 %, no margin, 99.9 %, 20 requests
	r := rand.New(rand.NewPCG(20260101, 4))
	draws := 1000
	if testing.Short() {
		draws = 100 // quicker; the same limits apply
	}
	type cell struct {
		pc, ps float64
		n, m   uint64
		// margin is the tolerated increase the cell is judged with (the default's is 0).
		margin float64
	}
	var cells []cell
	for _, n := range []uint64{5, 20, 60, 200, 1000, 5000} {
		for _, m := range []uint64{20, 400, 20000} {
			for _, p := range []float64{0.002, 0.01, 0.03, 0.1} {
				cells = append(cells, cell{pc: p, ps: p, n: n, m: m})                        // same rate
				cells = append(cells, cell{pc: p + 0.005, ps: p, n: n, m: m, margin: 0.005}) // H0's edge with a margin
			}
		}
		// No stable traffic: the absolute limit alone, at its edge.
		cells = append(cells, cell{pc: th.MaxErrorRate, n: n})
	}
	var total, trips, sameTrips, sameTotal int
	for _, c := range cells {
		cellTrips := 0
		for range draws {
			cth := th
			cth.MaxErrorRateIncrease = c.margin
			if falseTrip(r, cth, c.pc, c.ps, c.n, c.m) {
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

// falseTrip builds one window pair with its trailing sub-windows (the last 1/10, 1/4 and
// 1/2 of each subset's requests, nested as in a real window) and reports whether Decide
// tripped on the error rate.
func falseTrip(r *rand.Rand, th Thresholds, pc, ps float64, n, m uint64) bool {
	now := t0
	spans := TrailingSpans(th.Window)
	cuts := []uint64{10, 4, 2} // sub-window i holds 1/cuts[i] of the requests
	in := Input{
		Now: now, Phase: PhaseProgressing, Step: 1, Weight: 5, StepStartedAt: now,
		Steps:      schedule.Default(time.Minute, 100),
		Thresholds: th,
		Trailing:   make([]Trailing, len(spans)),
	}
	var cReq, cErr, sReq, sErr uint64
	for i, d := range spans {
		// Grow the nested sub-windows: add the requests between the previous cut and this one.
		cAdd, sAdd := n/cuts[i]-cReq, m/cuts[i]-sReq
		cReq, cErr = cReq+cAdd, cErr+binomial(r, cAdd, pc)
		sReq, sErr = sReq+sAdd, sErr+binomial(r, sAdd, ps)
		in.Trailing[i] = Trailing{Span: d,
			Canary: window.Stats{Requests: cReq, Rq5xx: cErr, LastData: now, Pods: 1, Span: d},
			Stable: window.Stats{Requests: sReq, Rq5xx: sErr, LastData: now, Pods: 1, Span: d}}
	}
	cErr += binomial(r, n-cReq, pc)
	sErr += binomial(r, m-sReq, ps)
	in.Canary = window.Stats{Requests: n, Rq5xx: cErr, LastData: now, Pods: 1, Span: th.Window}
	if m > 0 {
		in.Stable = window.Stats{Requests: m, Rq5xx: sErr, LastData: now, Pods: 1, Span: th.Window}
	}
	return Decide(in).Reason == reason.ErrorRate
}
