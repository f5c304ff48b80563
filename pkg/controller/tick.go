package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/analysis"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/window"
)

// tick is one evaluation of an active rollout: gather stats, decide, act.
func (r *Reconciler) tick(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, stable, canary string, now time.Time) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(ts)
	st := &ts.Status
	managed, bypass, byVS, err := w.routes(stable, canary)
	if err != nil {
		if s, serr := w.inferStable(); serr == nil && s == canary {
			return ctrl.Result{}, r.recordPromoted(ctx, w, ts, canary, now)
		}
		return ctrl.Result{}, r.markInvalid(ctx, ts, err.(*invalid))
	}
	r.noteRoutes(w, ts, managed, bypass)
	started := now
	if st.RolloutStartedAt != nil {
		started = st.RolloutStartedAt.Time.Truncate(time.Microsecond) // as stored
	}
	rm := r.mem.get(key, canary, started, w.spec.Guard.Window, st.StepRequests, st.Step)
	if rm.step != st.Step {
		rm.step, rm.stepReqs = st.Step, st.StepRequests
	}
	rm.lastTick, rm.world = now, w

	// Weights someone else wrote: anything but what sluice wrote or is writing.
	observed := observedCanaryWeights(byVS)
	external := slices.ContainsFunc(observed, func(v int32) bool {
		return v != st.Weight && (rm.pending == nil || v != *rm.pending)
	})
	rm.pending = nil

	// Operator resume: a pause by annotation ends when the annotation does; any pause
	// ends with a fresh retry token naming this canary, adopting the weights as found.
	before := st.DeepCopy()
	if st.Phase == sluicev1alpha1.PhasePaused {
		if r.resume(w, ts, canary, observed, now) {
			external = false
		}
	}

	canaryStats, stableStats, note, err := r.observe(ctx, w, rm, stable, canary, now)
	if inv := (*invalid)(nil); errors.As(err, &inv) {
		return ctrl.Result{}, r.markInvalid(ctx, ts, inv)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	rm.stepReqs += int64(canaryStats.tick.Requests)
	if int64(stableStats.window.Requests) >= w.spec.Guard.MinRequests {
		rm.stableBaseline = stableStats.window
	}

	dataPlanePending := r.checkDataPlane(ctx, w, ts, rm)
	in := analysis.Input{
		DataPlanePending:     dataPlanePending,
		Now:                  now,
		Phase:                string(st.Phase),
		Commands:             analysis.Commands{Pause: w.spec.Paused, Promote: w.spec.Promote == canary, Abort: w.spec.Abort == canary},
		ExternalWeightChange: external,
		Steps:                w.spec.Steps,
		Step:                 st.Step,
		Weight:               st.Weight,
		StepCanaryRequests:   rm.stepReqs,
		Canary:               canaryStats.window,
		Stable:               stableStats.window,
		CanaryTick:           canaryStats.tick,
		StableBaseline:       rm.stableBaseline,
		Thresholds:           w.spec.Guard,
	}
	if st.StepStartedAt != nil {
		in.StepStartedAt = st.StepStartedAt.Time
	}
	for _, d := range analysis.TrailingSpans(w.spec.Guard.Window) {
		in.Trailing = append(in.Trailing, analysis.Trailing{Span: d,
			Canary: rm.canaryW.StatsSince(now, d), Stable: rm.stableW.StatsSince(now, d)})
	}
	d := analysis.Decide(in)
	if d.Recheck {
		rm.recheckUntil = now.Add(w.spec.Interval)
	}
	st.StepRequests = rm.stepReqs
	st.Window = windowStatus(stable, canary, canaryStats.window, stableStats.window)
	r.noteObservable(ts, w, canaryStats.window, note)
	if err := r.act(ctx, w, ts, rm, d, stable, canary, observed, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeTickStatus(ctx, ts, before, rm, now); err != nil {
		return ctrl.Result{}, err
	}
	if !active(st.Phase) {
		if rm.confirm != nil || rm.drain != nil {
			return ctrl.Result{RequeueAfter: confirmPoll}, nil
		}
		r.mem.forget(key)
		return ctrl.Result{}, nil
	}
	every := rm.tickEvery(now, w.spec.Interval)
	if every < w.spec.Interval && r.Metrics != nil {
		r.Metrics.Rechecks.WithLabelValues(w.svc.Namespace, w.svc.Name).Inc()
	}
	next := every - r.Clock.Since(now)
	if rm.confirm != nil && !rm.confirm.reported {
		next = min(confirmPoll, next)
	}
	if next < time.Millisecond {
		next = time.Millisecond
	}
	return ctrl.Result{RequeueAfter: next}, nil
}

// resume moves a Paused rollout back to Progressing when the operator says so.
func (r *Reconciler) resume(w *world, ts *sluicev1alpha1.TrafficShift, canary string, observed []int32, now time.Time) bool {
	st := &ts.Status
	retry := w.spec.Retry == canary && w.spec.RetryToken != "" && w.spec.RetryToken != st.LastRetry
	byOperatorDone := st.PausedReason == pausedByOperator && !w.spec.Paused
	if !retry && !byOperatorDone {
		return false
	}
	if retry {
		st.LastRetry = w.spec.RetryToken
		if len(observed) == 1 && observed[0] != st.Weight {
			// Adopt the weights as found and continue from the step at or below them.
			st.Weight = observed[0]
			st.Step = max(w.spec.Steps.StepFor(st.Weight), 1)
			st.StepStartedAt, st.StepRequests = microPtr(now), 0
		}
	}
	st.Phase, st.PausedReason = sluicev1alpha1.PhaseProgressing, ""
	msg := fmt.Sprintf("rollout of %q resumed at step %d, canary weight %d", canary, st.Step, st.Weight)
	st.LastDecision = &sluicev1alpha1.Decision{Action: "Resume", Reason: ReasonResumed, Message: msg, Time: timePtr(now)}
	r.event(ts, w.svc, corev1.EventTypeNormal, ReasonResumed, "Resume", "%s", msg)
	return true
}

// subsetObservation is one subset's window and this tick's increment.
type subsetObservation struct {
	window, tick window.Stats
}

// observe reads both subsets once (destination side, or the callers named by
// sluice.dev/stats-from) and feeds the windows.
func (r *Reconciler) observe(ctx context.Context, w *world, rm *rolloutMemory, stable, canary string, now time.Time) (c, s subsetObservation, note string, err error) {
	req := source.Request{Host: w.target.FQDN(), Namespace: w.svc.Namespace, Subsets: map[string][]corev1.Pod{}, StatsFrom: w.spec.StatsFrom}
	for _, sub := range []string{canary, stable} {
		if req.Subsets[sub], err = r.subsetPods(ctx, w, sub); err != nil {
			return c, s, "", err
		}
	}
	src, err := r.Stats.pick(w)
	if err != nil {
		return c, s, "", err
	}
	snap, err := src.Read(ctx, req)
	if err != nil {
		return c, s, "", fmt.Errorf("reading stats of %s: %w", w.target.FQDN(), err)
	}
	for _, sub := range []struct {
		name string
		win  *window.Window
		out  *subsetObservation
	}{{canary, rm.canaryW, &c}, {stable, rm.stableW, &s}} {
		ss := snap.Subsets[sub.name]
		if ss.Failed > 0 && r.Metrics != nil {
			r.Metrics.ScrapeErrors.WithLabelValues(w.svc.Namespace, w.svc.Name).Add(float64(ss.Failed))
		}
		sub.out.tick = sub.win.Observe(now, ss.OK, ss.Failed)
		sub.out.window = sub.win.Stats(now)
	}
	return c, s, snap.Note, nil
}

// ReasonCanaryServing: the routes already send everything to the canary.
const ReasonCanaryServing = "CanaryAlreadyServing"

// recordPromoted finishes a rollout whose routes already send all traffic to the canary:
// a promotion whose status write was lost, or someone promoting by hand.
func (r *Reconciler) recordPromoted(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, canary string, now time.Time) error {
	msg := fmt.Sprintf("the routes already send all of %s's traffic to %q: recorded as promoted", w.target.FQDN(), canary)
	st := &ts.Status
	st.LastDecision = &sluicev1alpha1.Decision{Action: string(analysis.Promote), Reason: ReasonCanaryServing, Message: msg, Time: timePtr(now)}
	r.finish(ts, w.spec.HistoryLimit, sluicev1alpha1.PhasePromoted, ReasonCanaryServing, msg, now)
	st.Stable, st.Weight, st.Step = canary, 100, int32(len(w.spec.Steps))
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, ReasonPromoted, msg)
	r.event(ts, w.svc, corev1.EventTypeNormal, ReasonPromoted, "Promote", "canary %q promoted: %s", canary, msg)
	r.setWeightMetric(ts, 100)
	r.mem.forget(client.ObjectKeyFromObject(ts))
	return r.writeStatus(ctx, ts)
}

// confirmOnly checks a pending write in the callers' config dumps and comes back soon,
// leaving stats and decisions to the next full tick (at most one interval away).
func (r *Reconciler) confirmOnly(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, now time.Time) (ctrl.Result, error) {
	before := ts.Status.DeepCopy()
	pending := r.checkDataPlane(ctx, w, ts, rm)
	if err := r.writeStatusIfChanged(ctx, ts, before); err != nil {
		return ctrl.Result{}, err
	}
	if pending {
		return ctrl.Result{RequeueAfter: confirmPoll}, nil
	}
	return ctrl.Result{RequeueAfter: max(rm.tickEvery(rm.lastTick, w.spec.Interval)-now.Sub(rm.lastTick), time.Millisecond)}, nil
}
