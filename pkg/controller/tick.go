package controller

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/analysis"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/spec"
	"github.com/sluicedev/sluice/pkg/window"
)

// observe is the gather half of a tick: it reads both subsets' stats into the rollout's
// windows and asks the decision engine for its verdict, which it leaves in w.guard.
func (r *Reconciler) observe(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) error {
	st := &ts.Status
	rt := w.routing(t.Stable, t.Canary)
	joining := rt.joining(st) // those that could not join yet
	r.noteRoutes(w, ts, rt, joining)
	rm := r.remember(ts, w, t.Canary, now)
	tk.rm = rm
	if !rm.nextTickAt.IsZero() && r.Metrics != nil {
		r.Metrics.TickLag.Observe(max(now.Sub(rm.nextTickAt), 0).Seconds())
	}

	// Weights someone else wrote: anything but what sluice wrote or is writing, in the
	// VirtualServices that hold the rollout's weights.
	observed := rt.weights(holdsRollout(st, joining))
	external := !tk.resumed && slices.ContainsFunc(observed, func(v int32) bool {
		return v != st.Weight && (rm.pending == nil || v != *rm.pending)
	})
	rm.pending = nil

	canaryStats, stableStats, note, err := r.readStats(ctx, w, rm, t.Stable, t.Canary, now, false)
	if err != nil {
		return err
	}
	rm.stepReqs += int64(canaryStats.tick.Requests)
	if int64(stableStats.window.Requests) >= w.spec.Guard.MinRequests {
		rm.stableBaseline = stableStats.window
	}
	in := guardInput(w, st, rm, t.Canary, canaryStats, stableStats, now)
	in.DataPlanePending = r.checkDataPlane(ctx, w, ts, rm)
	in.ExternalWeightChange = external
	if in.CanaryPods, in.StablePods, err = r.podStates(ctx, w, t.Canary, t.Stable); err != nil {
		return err
	}
	if in.Resources, in.Checks, err = r.sample(ctx, w, client.ObjectKeyFromObject(ts), rolloutID(t.Canary, rm.startedAt), t.Stable, t.Canary); err != nil {
		return err
	}
	d := analysis.Decide(in)
	r.noteFirstTick(ctx, in, d, now)
	rm.noteFailure(in, now)
	if d.Recheck {
		rm.recheckUntil = now.Add(w.spec.Interval)
		r.readAhead(w, rm)
	}
	w.guard = &d
	st.StepRequests = rm.stepReqs
	st.Window = windowStatus(t.Stable, t.Canary, canaryStats.window, stableStats.window, w.spec.Guard.Quantile())
	r.noteObservable(ts, w, canaryStats.window, note)
	return nil
}

// guardInput is the decision engine's input from the tick's windows, the status and
// the rollout's memory (the data plane, external edits and pods are the caller's).
func guardInput(w *world, st *sluicev1alpha1.TrafficShiftStatus, rm *rolloutMemory, canary string, c, s subsetObservation, now time.Time) analysis.Input {
	in := analysis.Input{
		Now:                now,
		Phase:              string(st.Phase),
		Commands:           commands(w.spec, canary),
		Steps:              w.spec.Steps,
		Step:               st.Step,
		Weight:             st.Weight,
		StepCanaryRequests: rm.stepReqs,
		Canary:             c.window,
		Stable:             s.window,
		CanaryTick:         c.tick,
		StableBaseline:     rm.stableBaseline,
		Thresholds:         w.spec.Guard,
	}
	if st.StepStartedAt != nil {
		in.StepStartedAt = st.StepStartedAt.Time
	}
	if st.RolloutStartedAt != nil {
		in.RolloutStartedAt = st.RolloutStartedAt.Time
	}
	for _, d := range analysis.TrailingSpans(w.spec.Guard.Window) {
		in.Trailing = append(in.Trailing, analysis.Trailing{Span: d,
			Canary: rm.canaryW.StatsSince(now, d), Stable: rm.stableW.StatsSince(now, d)})
	}
	return in
}

// remember returns the memory of ts's rollout of canary, in step with the status.
func (r *Reconciler) remember(ts *sluicev1alpha1.TrafficShift, w *world, canary string, now time.Time) *rolloutMemory {
	st := &ts.Status
	rm := r.mem.get(client.ObjectKeyFromObject(ts), canary, rolloutStart(st, now), w.spec.Guard.Window, st.StepRequests, st.Step)
	if rm.step != st.Step {
		rm.step, rm.stepReqs = st.Step, st.StepRequests
	}
	rm.lastTick, rm.world = now, w
	return rm
}

// nextTick schedules the next look at an active rollout: one interval after this tick's
// start (a fraction of it during a recheck), sooner while a write awaits confirmation. A
// rollout that ended is looked at again only while its last write is being followed.
func (r *Reconciler) nextTick(w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, now time.Time) ctrl.Result {
	if !lifecycle.Active(ts.Status.Phase) {
		if rm.confirm != nil || rm.drain != nil {
			return ctrl.Result{RequeueAfter: confirmPoll}
		}
		r.forget(client.ObjectKeyFromObject(ts))
		return ctrl.Result{}
	}
	every := rm.tickEvery(now, w.spec.Interval)
	if every < w.spec.Interval && r.Metrics != nil {
		r.Metrics.Rechecks.WithLabelValues(w.svc.Namespace, w.svc.Name).Inc()
	}
	rm.nextTickAt = now.Add(every)
	r.wakes.note(client.ObjectKeyFromObject(ts), w.target.FQDN(), rm.canary, w.spec.Interval, now, rm.nextTickAt)
	next := every - r.Clock.Since(now)
	if rm.confirm != nil && !rm.confirm.reported {
		next = min(confirmPoll, next)
	}
	return ctrl.Result{RequeueAfter: max(next, time.Millisecond)}
}

// subsetObservation is one subset's window and this tick's increment.
type subsetObservation struct {
	window, tick window.Stats
}

// readStats reads both subsets once (destination side, or the callers named by
// sluice.dev/stats-from) and feeds the windows. A baseline read (a rollout's first) takes
// no page read before it began: what the callers counted before the rollout stays out.
func (r *Reconciler) readStats(ctx context.Context, w *world, rm *rolloutMemory, stable, canary string, now time.Time, baseline bool) (c, s subsetObservation, note string, err error) {
	req := source.Request{Host: w.target.FQDN(), Namespace: w.svc.Namespace, Subsets: map[string][]corev1.Pod{}, StatsFrom: w.spec.StatsFrom,
		MaxAge: rm.tickEvery(now, w.spec.Interval), Seen: &rm.pages, Fresh: baseline, Recheck: now.Before(rm.recheckUntil)}
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

// readAhead asks w's stats source, when its reads share pages between rollouts (the
// callers), to start the pages that this rollout's recheck will read
// (source.Callers.ReadAhead).
func (r *Reconciler) readAhead(w *world, rm *rolloutMemory) {
	src, err := r.Stats.pick(w)
	ra, ok := src.(source.ReadAheader)
	if err != nil || !ok {
		return
	}
	ra.ReadAhead(source.Request{Host: w.target.FQDN(), Namespace: w.svc.Namespace, StatsFrom: w.spec.StatsFrom, Seen: &rm.pages})
}

// confirmOnlyDue returns the rollout's memory when this reconcile should only look for a
// pending weight write in the callers' config dumps: between full ticks, with what the
// last full tick gathered, so that the measured propagation is not stretched by a tick's
// reads. nil means a full reconcile.
func (r *Reconciler) confirmOnlyDue(ts *sluicev1alpha1.TrafficShift, now time.Time) *rolloutMemory {
	if ts == nil || !lifecycle.Active(ts.Status.Phase) {
		return nil
	}
	rm := r.mem.peek(client.ObjectKeyFromObject(ts))
	if rm == nil || rm.world == nil || rm.confirm == nil || rm.confirm.reported {
		return nil
	}
	if now.Sub(rm.lastTick) >= rm.tickEvery(rm.lastTick, rm.world.spec.Interval) {
		return nil
	}
	return rm
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

// commands are the operator commands of sp that apply to canary.
func commands(sp spec.Spec, canary string) analysis.Commands {
	c := analysis.Commands{Pause: sp.Paused, Promote: sp.Promote == canary, Abort: sp.Abort == canary}
	if sp.Approve.Canary == canary {
		c.ApprovedUpTo = sp.Approve.UpTo
	}
	return c
}
