package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/sluicedev/sluice/e2e/meshlab"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// rate is the gateway caller's calls per second (the -rate flag).
var rate = 1000.0

const (
	stable, canary = "v1", "v2"
	stepDuration   = 3 * time.Second
	scrapeEvery    = time.Second
	baselineCap    = 30 * time.Second
	settle         = 1500 * time.Millisecond // after the VS write, before reading the last canary call
)

var stepWeights = []int32{5, 25, 50, 100}

// bench drives rollouts on one lab.
type bench struct {
	lab    *meshlab.Lab
	vs     *vswatch.Log
	rng    *rand.Rand
	tokens int
	// healthy is every backend's behaviour when not faulty (base latency); maxP99 is
	// sluice's max-latency-p99 and the baselines' latency threshold.
	healthy meshlab.Behaviour
	maxP99  time.Duration
}

func (b *bench) caller() *meshlab.Caller { return b.lab.Callers[0] }

// annotations start (or retry) a rollout of the canary with the given dwell.
func (b *bench) annotations(dwell time.Duration) map[string]string {
	b.tokens++
	return map[string]string{
		"sluice.dev/enabled":         "true",
		"sluice.dev/canary":          canary,
		"sluice.dev/stats-from":      "app=gateway",
		"sluice.dev/step-duration":   dwell.String(),
		"sluice.dev/min-requests":    "20",
		"sluice.dev/max-latency-p99": b.maxP99.String(),
		"sluice.dev/retry":           fmt.Sprintf("%s@run-%d", canary, b.tokens),
		"sluice.dev/abort":           "",
	}
}

// reset ends any rollout in progress (abort), makes every backend healthy, restores the
// call rate and routes everything to stable alone, as the client has applied it.
func (b *bench) reset(ctx context.Context) error {
	b.lab.SetSubsetBehaviour(stable, b.healthy)
	b.lab.SetSubsetBehaviour(canary, b.healthy)
	b.caller().SetRate(rate)
	if ts, err := b.lab.TrafficShift(ctx); err == nil && (ts.Status.Phase == sluicev1alpha1.PhaseProgressing || ts.Status.Phase == sluicev1alpha1.PhasePaused) {
		if err := b.lab.Annotate(ctx, map[string]string{"sluice.dev/abort": canary}); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := b.lab.WaitTrafficShift(wctx, "aborted", func(ts *sluicev1alpha1.TrafficShift) bool {
			return ts.Status.Phase == sluicev1alpha1.PhaseRolledBack
		}); err != nil {
			return err
		}
	}
	// sluice ignores a new command while it watches a finished rollout's canary drain
	// (see the README): wait for the drain (or its 5 s timeout) first.
	if ts, err := b.lab.TrafficShift(ctx); err == nil && ts.Status.Phase == sluicev1alpha1.PhaseRolledBack {
		if dp := ts.Status.DataPlane; dp != nil && dp.WrittenAt != nil && dp.CanaryDrainedAt == nil {
			wctx, cancel := context.WithDeadline(ctx, dp.WrittenAt.Add(6*time.Second))
			_, _ = b.lab.WaitTrafficShift(wctx, "canary drained", func(ts *sluicev1alpha1.TrafficShift) bool {
				return ts.Status.DataPlane != nil && ts.Status.DataPlane.CanaryDrainedAt != nil
			})
			cancel()
		}
	}
	if err := b.lab.RouteTo(ctx, stable); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := b.caller().WaitForWeights(wctx, b.lab.Host(), map[string]uint32{stable: 100})
	return err
}

// start annotates a new rollout and waits until sluice's status shows it started
// (Progressing at step 1, rollout started after the annotation) and the client applied
// step 1's weight; it returns when it annotated and when the client applied step 1.
func (b *bench) start(ctx context.Context, dwell time.Duration) (t0 time.Time, applied meshlab.RouteArrival, err error) {
	t0 = time.Now()
	if err := b.lab.Annotate(ctx, b.annotations(dwell)); err != nil {
		return t0, applied, err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := b.lab.WaitTrafficShift(wctx, "a new rollout", func(ts *sluicev1alpha1.TrafficShift) bool {
		st := ts.Status
		return st.Canary == canary && st.RolloutStartedAt != nil && !st.RolloutStartedAt.Time.Before(t0) &&
			st.Step >= 1 && (st.Phase == sluicev1alpha1.PhaseProgressing || st.Phase == sluicev1alpha1.PhaseRolledBack)
	}); err != nil {
		return t0, applied, err
	}
	applied, err = b.caller().WaitForRoute(wctx, b.lab.Host(), split(stepWeights[0]))
	return t0, applied, err
}

func split(w int32) map[string]uint32 {
	return map[string]uint32{stable: uint32(100 - w), canary: uint32(w)}
}

// initialDelay is how long after the client applied step 1 the baselines' checks may
// begin: two scrapes, so that a rate over the canary's new series exists.
const initialDelay = 2 * scrapeEvery

// shadows evaluates both baseline rules over a run's series, their check clocks starting
// at a uniformly random phase after from (a real controller's checks are not aligned
// with the fault).
func (b *bench) shadows(ss []sample, from, end time.Time) map[string]verdict {
	p99 := float64(b.maxP99.Microseconds()) / 1000
	out := map[string]verdict{}
	for _, r := range []rule{flaggerRule(p99), argoRule(p99)} {
		phase := time.Duration(b.rng.Int64N(int64(r.Interval)))
		out[r.Name] = r.evaluate(ss, from.Add(phase), end)
	}
	return out
}

// waitUntil sleeps until t or ctx ends.
func waitUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}
