package main

import (
	"math/rand/v2"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/window"
)

// The three rules compared.
const (
	ruleSluice = iota
	ruleFlagger
	ruleArgo
	nRules
)

var ruleNames = [nRules]string{"sluice", "Flagger-style", "Argo-style"}

const (
	tick          = 500 * time.Millisecond
	faultWeight   = 5                 // faulty runs stay at the first step
	healthyCap    = 300 * time.Second // a healthy run ends at promotion or here
	detectCap     = 60 * time.Second  // a fault not caught this long after it starts is "missed"
	flaggerPeriod = 10 * time.Second
	argoPeriod    = time.Second
)

// cell is one point of the grid.
type cell struct {
	Rate      float64 // total req/s
	StableErr float64
	Canary    string // label of the canary's condition
	CanaryErr float64
	Latency   bool // latency rule on (stable × 2); in a faulty cell the fault is latency ×3
	// Quantile and Limit are guard.maxLatency: the latency rules' quantile (0: the
	// default, p99) and an absolute limit at it (0: none). The factor rule compares at
	// the same quantile.
	Quantile float64       `json:",omitempty"`
	Limit    time.Duration `json:",omitempty"`
	// Stream numbers the cell's random stream (with -seed).
	Stream uint64

	Healthy bool
}

// outcome is when each rule tripped (−1: never) and when the fault started (−1: none).
type outcome struct {
	trip    [nRules]time.Duration
	faultAt time.Duration
	// looks counts sluice's ticks, rechecks those of them that came early.
	looks, rechecks int
}

// simulate runs one rollout (healthy) or one fault at the first step (faulty) on a virtual
// clock, driving the real window and analysis.Decide, with the two baseline rules
// watching the same traffic.
func simulate(r *rand.Rand, c cell) outcome {
	th := analysis.DefaultThresholds()
	if c.Latency {
		th.LatencyFactor = 2
		if c.Quantile > 0 {
			th.LatencyQuantile, th.MaxLatency = c.Quantile, c.Limit
		}
	}
	steps := schedule.Default(30*time.Second, th.MinRequests)
	spans := analysis.TrailingSpans(th.Window)
	canary := newSubset(c.StableErr, 1, c.Latency, th.Window)
	stable := newSubset(c.StableErr, 1, c.Latency, th.Window)
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	out := outcome{trip: [nRules]time.Duration{-1, -1, -1}, faultAt: -1}
	horizon := healthyCap
	if !c.Healthy {
		out.faultAt = 10*time.Second + time.Duration(r.Int64N(int64(10*time.Second)))
		horizon = out.faultAt + detectCap
	}
	step, weight := int32(1), int32(steps[0].Weight)
	stepStart, stepReq := epoch, int64(0)
	flaggerFailed := 0
	var baseline window.Stats
	canary.observe(epoch)
	stable.observe(epoch)
	canary.observeBaseline(epoch)

	// Traffic moves in fine steps (the recheck interval); sluice looks every tick, or every
	// fine step for one tick after a decision asked for a recheck; the baselines read the
	// canary's own window on their periods.
	fine := tick / analysis.RecheckDivisor
	nextLook, quickUntil := tick, time.Duration(0)
	for t := fine; t <= horizon; t += fine {
		now := epoch.Add(t)
		n := poisson(r, c.Rate*fine.Seconds())
		nc := binomial(r, n, float64(weight)/100)
		stable.serve(r, n-nc)
		if f := out.faultAt; f >= 0 && f > t-fine && f <= t {
			// The fault starts inside this step: requests before it are healthy.
			pre := binomial(r, nc, float64(f-(t-fine))/float64(fine))
			canary.serve(r, pre)
			canary.errRate = c.CanaryErr
			if c.Latency {
				canary.setLatency(3)
			}
			nc -= pre
		}
		canary.serve(r, nc)

		promoted := false
		if out.trip[ruleSluice] < 0 && t >= nextLook {
			out.looks++
			cTick := canary.observe(now)
			stable.observe(now)
			stepReq += int64(cTick.Requests)
			cw, sw := canary.win.Stats(now), stable.win.Stats(now)
			var trailing []analysis.Trailing
			for _, d := range spans {
				trailing = append(trailing, analysis.Trailing{Span: d, Canary: canary.win.StatsSince(now, d), Stable: stable.win.StatsSince(now, d)})
			}
			if int64(sw.Requests) >= th.MinRequests {
				baseline = sw // what the controller keeps for weight 100
			}
			d := analysis.Decide(analysis.Input{
				Now: now, Phase: analysis.PhaseProgressing, Steps: steps, Step: step, Weight: weight,
				StepStartedAt: stepStart, StepCanaryRequests: stepReq,
				Canary: cw, Stable: sw, Trailing: trailing, CanaryTick: cTick, StableBaseline: baseline, Thresholds: th,
			})
			switch d.Action {
			case analysis.Rollback, analysis.Pause:
				out.trip[ruleSluice] = t
			case analysis.Advance:
				if c.Healthy {
					step++
					weight, stepStart, stepReq = steps[step-1].Weight, now, 0
				}
			case analysis.Promote:
				promoted = c.Healthy
			}
			if d.Recheck && recheck {
				quickUntil = t + tick
			}
			nextLook = t + tick
			if t < quickUntil {
				nextLook = t + fine
				out.rechecks++
			}
		}
		if t%argoPeriod == 0 {
			canary.observeBaseline(now)
			cw := canary.bwin.Stats(now)
			if out.trip[ruleFlagger] < 0 && t%flaggerPeriod == 0 {
				// Flagger compares the failed-check count with the threshold (1) before it
				// runs the check, so a failed check rolls back at the next one.
				if flaggerFailed >= 1 {
					out.trip[ruleFlagger] = t
				} else if belowSuccessRate(cw) {
					flaggerFailed++
				}
			}
			if out.trip[ruleArgo] < 0 && belowSuccessRate(cw) {
				out.trip[ruleArgo] = t // failureLimit 0: the first failed measurement aborts
			}
		}
		if promoted || (c.Healthy && out.trip[ruleSluice] >= 0) {
			break
		}
		if !c.Healthy && out.trip[0] >= 0 && out.trip[1] >= 0 && out.trip[2] >= 0 {
			break
		}
	}
	return out
}

// belowSuccessRate is the baselines' metric check: success rate over the 10 s window
// ≥ 99 %, where no requests (0/0, NaN) counts as a failure, as in both tools.
func belowSuccessRate(s window.Stats) bool {
	if s.Requests == 0 {
		return true
	}
	return 1-float64(s.Errors())/float64(s.Requests) < 0.99
}
