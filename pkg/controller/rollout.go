package controller

import (
	"context"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/reason"
)

// settle records an idle (or finished) state: valid spec, routes found, nothing to move.
func (r *Reconciler) settle(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, before *sluicev1alpha1.TrafficShiftStatus, t lifecycle.Transition) error {
	st := &ts.Status
	st.Stable, st.Phase = t.Stable, t.Phase
	r.noteRoutes(w, ts, w.routing(t.Stable, ""), nil)
	setCondition(ts, sluicev1alpha1.ConditionReady, true, reason.Valid, "annotations, policy and routes are valid")
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, string(st.Phase), t.Message)
	return r.writeStatusIfChanged(ctx, ts, before)
}

// start begins a rollout of the canary: the first step's weight in every managed route.
func (r *Reconciler) start(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(ts)
	rm := r.mem.get(key, t.Canary, now.Truncate(time.Microsecond), w.spec.Guard.Window, 0, 1)
	// The windows' first read, before the canary gets traffic: counters are cumulative, so
	// without it the first tick would only set the baseline, and a canary failing from its
	// first request would be judged a tick later. It reads afresh: a caller page shared
	// from before this decision would put the requests between that page and the decision
	// (a canary failing until just before a retry) into the new rollout's window.
	if _, _, _, err := r.readStats(ctx, w, rm, t.Stable, t.Canary, now, true); err != nil {
		log.FromContext(ctx).V(1).Info("no baseline read of the stats at the rollout's start; the first tick takes it", "error", err.Error())
	}
	if o := r.setWeight(ctx, w, key, t.Stable, t.Canary, t.Weight); !o.Complete() {
		before := ts.Status.DeepCopy()
		r.undoStep(ctx, w, ts, t, o, 0, now)
		return ctrl.Result{RequeueAfter: startRetry}, r.writeStatusIfChanged(ctx, ts, before)
	}
	applied := r.Clock.Now() // the first step's dwell counts from here (see advance)
	r.writesComplete(ts, t.Weight)
	r.events(ts, w.svc, t.Events)
	st := &ts.Status
	weightBefore := int32(0) // a new canary: no weight yet
	st.Release = r.releaseContext(ctx, w, t.Stable, t.Canary)
	st.Phase, st.PausedReason = t.Phase, t.PausedReason
	st.Stable, st.Canary = t.Stable, t.Canary
	st.Step, st.Weight = t.Step, t.Weight
	st.RolloutStartedAt, st.StepStartedAt, st.WaitingSince = microPtr(now), microPtr(applied), nil
	st.StepRequests, st.Window = 0, nil
	if t.Retry != "" {
		st.LastRetry = t.Retry
	}
	r.noteRoutes(w, ts, w.routing(t.Stable, t.Canary), nil)
	rm.lastTick, rm.world = now, w
	r.expectWrite(w, ts, rm, t.Weight, applied, true)
	why := reason.RolloutStarted
	if t.Adopt { // the routes held t.Weight already: nothing moved
		why, weightBefore = t.Reason, t.Weight
	}
	st.LastDecision = &sluicev1alpha1.Decision{Action: t.Action(), Reason: why, Message: t.Message, Time: timePtr(now)}
	setCondition(ts, sluicev1alpha1.ConditionReady, true, reason.Valid, "annotations, policy and routes are valid")
	setCondition(ts, sluicev1alpha1.ConditionProgressing, true, why, t.Message)
	r.setWeightMetric(ts, t.Weight)
	r.note(w, ts, tk, t, weightBefore, now)
	if err := r.writeStatus(ctx, ts); err != nil {
		return ctrl.Result{}, err
	}
	if rm.confirm != nil {
		return ctrl.Result{RequeueAfter: confirmPoll}, nil
	}
	return ctrl.Result{RequeueAfter: w.spec.Interval}, nil
}

// supersede ends an active rollout whose canary is no longer the one asked for.
func (r *Reconciler) supersede(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) (ctrl.Result, error) {
	o := r.setWeight(ctx, w, client.ObjectKeyFromObject(ts), t.Stable, t.Canary, t.Weight)
	r.notePending(ts, w.svc, pendingAfter(ts.Status.PendingWrite, writeSupersede, t.Stable, t.Canary, t.Weight, o, now))
	st := &ts.Status
	r.finish(ts, w.spec.HistoryLimit, sluicev1alpha1.PhaseRolledBack, t.Reason, t.Message, now)
	weightBefore := st.Weight
	st.Phase, st.Weight, st.Step = t.Phase, 0, 0
	r.events(ts, w.svc, t.Events)
	r.setWeightMetric(ts, 0)
	r.note(w, ts, tk, t, weightBefore, now)
	if err := r.writeStatus(ctx, ts); err != nil {
		return ctrl.Result{}, err
	}
	r.forget(client.ObjectKeyFromObject(ts))
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// recordPromoted finishes a rollout whose routes already send all traffic to the canary:
// a promotion whose status write was lost, or someone promoting by hand.
func (r *Reconciler) recordPromoted(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) error {
	st := &ts.Status
	weightBefore := st.Weight
	st.LastDecision = decision(t, now)
	r.finish(ts, w.spec.HistoryLimit, t.Phase, t.Reason, t.Message, now)
	st.Stable, st.Weight, st.Step = t.Stable, t.Weight, t.Step
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, reason.Promoted, t.Message)
	r.events(ts, w.svc, t.Events)
	r.setWeightMetric(ts, t.Weight)
	r.note(w, ts, tk, t, weightBefore, now)
	r.forget(client.ObjectKeyFromObject(ts))
	return r.writeStatus(ctx, ts)
}

// optOut stops managing the Service, after returning a rollout's traffic to stable; its
// TrafficShift is deleted once no write is pending.
func (r *Reconciler) optOut(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, t lifecycle.Transition, now time.Time) error {
	key := client.ObjectKeyFromObject(ts)
	if t.ReturnTraffic {
		if names := ts.Status.VirtualServices; len(names) > 0 {
			w.spec.VirtualServices = names
		}
		vss, err := r.virtualServices(ctx, w)
		if err != nil && !isProblem(err) {
			return err
		}
		w.vss = vss
		o := r.setWeight(ctx, w, key, t.Stable, t.Canary, 0)
		if !o.Complete() {
			r.notePending(ts, w.svc, pendingAfter(ts.Status.PendingWrite, writeOptOut, t.Stable, t.Canary, 0, o, now))
			return r.writeStatus(ctx, ts)
		}
		r.events(ts, w.svc, t.Events)
		if err := r.recordOptOut(ctx, ts, t, now); err != nil {
			return err
		}
	}
	if !t.Release {
		return nil
	}
	r.forget(key)
	if err := r.Client.Delete(ctx, ts); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting TrafficShift %s: %w", key, err)
	}
	log.FromContext(ctx).Info("stopped managing Service (opt-in removed)")
	return nil
}

// recordOptOut ends the rollout in the TrafficShift's status once its traffic is back on
// stable (rolled back, reason OptedOut), before the TrafficShift is deleted: whoever
// watches it (kubectl sluice wait) sees how the rollout ended, not only that it vanished.
func (r *Reconciler) recordOptOut(ctx context.Context, ts *sluicev1alpha1.TrafficShift, t lifecycle.Transition, now time.Time) error {
	r.finish(ts, -1, sluicev1alpha1.PhaseRolledBack, t.Reason, t.Message, now)
	ts.Status.LastDecision = decision(t, now)
	ts.Status.Weight = 0
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, t.Reason, t.Message)
	r.setWeightMetric(ts, 0)
	return r.writeStatus(ctx, ts)
}

// startRetry is how soon a rollout whose first write failed on some VirtualService is
// started again.
const startRetry = time.Second

// waitForCanary records a rollout that waits, before its first step, for its canary's
// pods to be Ready, and looks again an interval later.
func (r *Reconciler) waitForCanary(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) (ctrl.Result, error) {
	st := &ts.Status
	if st.Phase != sluicev1alpha1.PhaseWaitingForCanary || st.Canary != t.Canary || st.WaitingSince == nil {
		st.WaitingSince = microPtr(now)
	}
	st.Phase, st.Stable, st.Canary, st.Step, st.Weight, st.PausedReason = t.Phase, t.Stable, t.Canary, 0, 0, ""
	if t.Retry != "" {
		st.LastRetry = t.Retry
	}
	if st.LastDecision == nil || st.LastDecision.Reason != t.Reason || st.LastDecision.Message != t.Message {
		st.LastDecision = decision(t, now)
	}
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, t.Reason, t.Message)
	r.events(ts, w.svc, t.Events)
	return ctrl.Result{RequeueAfter: w.spec.Interval}, r.writeStatusIfChanged(ctx, ts, tk.before)
}
