package main

import (
	"context"
	"fmt"
	"time"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// faultRun rolls the canary out, starts sc's fault at a uniformly random moment of the
// dwell of the step at weight w (from the client applying that step), follows sluice's
// rollback to the last canary call, and evaluates the baselines on the same scrapes.
func (b *bench) faultRun(ctx context.Context, sc scenario, w int32, run int) (rec runRecord, err error) {
	begin := time.Now()
	rec = runRecord{Scenario: sc.Name, Weight: w, Run: run}
	defer func() { rec.dur = time.Since(begin) }()
	if err := b.reset(ctx); err != nil {
		return rec, fmt.Errorf("resetting before run %d: %w", run, err)
	}
	c := b.caller()
	smp := startSampler(ctx, c.StatsURL(), b.lab.Host(), canary, stable, scrapeEvery)
	t0, step1, err := b.start(ctx, stepDuration)
	if err != nil {
		smp.Stop()
		return rec, err
	}
	dwellStart := step1.Applied
	if w != stepWeights[0] {
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		a, err := c.WaitForRoute(wctx, b.lab.Host(), split(w))
		cancel()
		if err != nil {
			smp.Stop()
			return rec, err
		}
		dwellStart = a.Applied
	}
	fault := dwellStart.Add(time.Duration(b.rng.Int64N(int64(stepDuration))))
	if err := waitUntil(ctx, fault); err != nil {
		smp.Stop()
		return rec, err
	}
	if ws, _, err := c.AppliedWeights(b.lab.Host()); err == nil {
		rec.FaultWeight = ws[canary]
	}
	ts, _ := b.lab.TrafficShift(ctx)
	preFault := ts != nil && ts.Status.Phase == sluicev1alpha1.PhaseRolledBack
	rctx, cancel := context.WithTimeout(ctx, baselineCap)
	r, ferr := b.lab.FaultUntilRollback(rctx, b.vs, stable, canary, sc.beh(b.healthy), settle)
	cancel()
	rec.FaultMs, rec.FaultInDwell = ms(r.Fault.Sub(t0)), ms(r.Fault.Sub(dwellStart))
	switch {
	case preFault:
		rec.Error = "sluice rolled back before the fault"
	case ferr != nil:
		rec.Error = ferr.Error()
	default:
		rec.RolledBack = true
		decide, push, apply, drain := r.Segments()
		rec.WrittenMs = msp(decide)
		rec.PushedMs = msp(decide + push)
		rec.AppliedMs = msp(decide + push + apply)
		rec.LastCanaryMs = msp(decide + push + apply + drain)
		rec.WriteToApplied = msp(push + apply)
	}
	if ts, err := b.lab.TrafficShift(ctx); err == nil {
		if d := ts.Status.LastDecision; d != nil {
			rec.Reason, rec.Message = d.Reason, d.Message
		}
		if dp := ts.Status.DataPlane; dp != nil && dp.Weight == 0 && dp.WrittenAt != nil && rec.RolledBack {
			rec.ControllerMs = msp(dp.WrittenAt.Sub(r.Fault))
			if dp.CanaryDrainedAt != nil {
				rec.SluiceDrainMs = msp(dp.CanaryDrainedAt.Sub(r.Fault))
			}
		}
	}
	// One scrape after the last canary call, then the canary's counters are frozen.
	realEnd := time.Now().Add(scrapeEvery + 100*time.Millisecond)
	if !rec.RolledBack {
		realEnd = r.Fault.Add(baselineCap) // nothing froze the canary: scrape it all
	}
	if err := waitUntil(ctx, realEnd); err != nil {
		smp.Stop()
		return rec, err
	}
	raw, _ := smp.Stop()
	end := r.Fault.Add(baselineCap)
	ss := extend(rebase(raw), scrapeEvery, end)
	rec.Baselines = map[string]ruleResult{}
	for name, v := range b.shadows(ss, step1.Applied.Add(initialDelay), end) {
		rec.Baselines[name] = toRuleResult(v, t0, r.Fault, rec.WriteToApplied)
	}
	rec.Series = toSeries(ss, t0, realEnd)
	rec.Steps = b.steps(t0)
	return rec, nil
}

// steps lists when the VirtualService took each step's weight after t0, and the
// rollback (weight 0) after the fault.
func (b *bench) steps(t0 time.Time) []stepPoint {
	var out []stepPoint
	for _, w := range stepWeights {
		if at, ok := b.vs.FirstAfter(t0, canary, w); ok {
			out = append(out, stepPoint{AtMs: ms(at.Sub(t0)), Weight: w})
		}
	}
	if first, ok := b.vs.FirstAbove(t0, canary); ok {
		if at, ok := b.vs.FirstAfter(first, canary, 0); ok {
			out = append(out, stepPoint{AtMs: ms(at.Sub(t0)), Weight: 0})
		}
	}
	return out
}

// controlRun rolls out a healthy canary (sc.beh on both versions, or no calls at all when
// idle) with a dwell longer than the observation, watches obs from the client applying
// step 1 (5 %), and records whether sluice and the baselines rolled back.
func (b *bench) controlRun(ctx context.Context, sc scenario, obs time.Duration, run int) (rec runRecord, err error) {
	begin := time.Now()
	rec = runRecord{Scenario: sc.Name, Weight: stepWeights[0], Run: run}
	defer func() { rec.dur = time.Since(begin) }()
	if err := b.reset(ctx); err != nil {
		return rec, fmt.Errorf("resetting before control run %d: %w", run, err)
	}
	c := b.caller()
	if sc.idle {
		c.SetRate(0)
	} else {
		b.lab.SetSubsetBehaviour(stable, sc.beh(b.healthy))
		b.lab.SetSubsetBehaviour(canary, sc.beh(b.healthy))
	}
	defer func() {
		c.SetRate(rate)
		b.lab.SetSubsetBehaviour(stable, b.healthy)
		b.lab.SetSubsetBehaviour(canary, b.healthy)
	}()
	smp := startSampler(ctx, c.StatsURL(), b.lab.Host(), canary, stable, scrapeEvery)
	t0, step1, err := b.start(ctx, obs+30*time.Second)
	if err != nil {
		smp.Stop()
		return rec, err
	}
	ref := step1.Applied
	end := ref.Add(obs)
	if err := waitUntil(ctx, end); err != nil {
		smp.Stop()
		return rec, err
	}
	raw, _ := smp.Stop()
	rec.FaultMs = ms(ref.Sub(t0))
	if ts, err := b.lab.TrafficShift(ctx); err == nil {
		rec.RolledBack = ts.Status.Phase == sluicev1alpha1.PhaseRolledBack
		if d := ts.Status.LastDecision; d != nil && rec.RolledBack {
			rec.Reason, rec.Message = d.Reason, d.Message
		}
	}
	ss := rebase(raw)
	rec.Baselines = map[string]ruleResult{}
	for name, v := range b.shadows(ss, ref.Add(initialDelay), end) {
		rec.Baselines[name] = toRuleResult(v, t0, ref, nil)
	}
	rec.Series = toSeries(ss, t0, end)
	rec.Steps = b.steps(t0)
	return rec, nil
}
