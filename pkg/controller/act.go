package controller

import (
	"context"
	"errors"
	"slices"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/reason"
)

type vsObj = networkingv1.VirtualService

// conclude carries out the guard's verdict on a tick (at most one weight write per
// VirtualService), writes the status when something changed, and schedules the next tick.
func (r *Reconciler) conclude(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) (ctrl.Result, error) {
	if t.Kind != lifecycle.Hold && r.Metrics != nil {
		r.Metrics.Decisions.WithLabelValues(t.Action(), t.Reason).Inc()
	}
	if tk.rm == nil { // decided before the stats were read (an alert)
		tk.rm = r.remember(ts, w, t.Canary, now)
	}
	if err := r.act(ctx, w, ts, tk, t, now); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.writeTickStatus(ctx, ts, tk.before, tk.rm, now); err != nil {
		return ctrl.Result{}, err
	}
	return r.nextTick(w, ts, tk.rm, now), nil
}

// act makes the verdict's write and records it in the status.
func (r *Reconciler) act(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) error {
	rm, weightBefore := tk.rm, ts.Status.Weight
	var err error
	switch t.Kind {
	case lifecycle.Rollback:
		err = r.rollback(ctx, w, ts, rm, t, now)
	case lifecycle.Promote:
		err = r.promote(ctx, w, ts, rm, t, now)
	case lifecycle.Advance:
		err = r.advance(ctx, w, ts, rm, t, now)
	case lifecycle.AwaitApproval:
		st := &ts.Status
		st.LastDecision = decision(t, now)
		st.Phase = t.Phase
		setCondition(ts, sluicev1alpha1.ConditionProgressing, false, t.Reason, t.Message)
	case lifecycle.Pause:
		st := &ts.Status
		st.LastDecision = decision(t, now)
		st.Phase, st.PausedReason = t.Phase, t.PausedReason
		if t.Adopt {
			st.Weight = t.Weight
		}
		setCondition(ts, sluicev1alpha1.ConditionProgressing, false, t.Reason, t.Message)
	case lifecycle.Hold:
		if last := ts.Status.LastDecision; t.Record && (last == nil || last.Reason != t.Reason || last.Message != t.Message) {
			ts.Status.LastDecision = decision(t, now)
		}
	}
	markAlerts(ts, t, now)
	if errors.Is(err, errStepNotWritten) {
		return nil // undone and reported; the next tick tries the step again
	}
	if err != nil {
		return err
	}
	r.events(ts, w.svc, t.Events)
	if t.Kind != lifecycle.Hold {
		r.setWeightMetric(ts, ts.Status.Weight)
		r.note(w, ts, tk, t, weightBefore, now)
	}
	return nil
}

// rollback sets the canary weight to 0 everywhere and ends the rollout.
func (r *Reconciler) rollback(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, t lifecycle.Transition, now time.Time) error {
	o := r.setWeight(ctx, w, client.ObjectKeyFromObject(ts), t.Stable, t.Canary, 0)
	r.notePending(ts, w.svc, pendingAfter(ts.Status.PendingWrite, writeRollback, t.Stable, t.Canary, 0, o, now))
	if r.Metrics != nil {
		r.Metrics.FaultToZero.Observe(r.Clock.Since(now).Seconds())
	}
	r.expectWrite(w, ts, rm, 0, r.Clock.Now(), false)
	if r.confirming(w) {
		rm.drain = &canaryDrain{start: r.Clock.Now()}
	}
	ts.Status.LastDecision = decision(t, now)
	r.finish(ts, w.spec.HistoryLimit, t.Phase, t.Reason, t.Message, now)
	ts.Status.Weight = 0
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, t.Reason, t.Message)
	return nil
}

// promote leaves the canary alone in every managed route and records it as the stable.
func (r *Reconciler) promote(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, t lifecycle.Transition, now time.Time) error {
	o := r.promoteRoutes(ctx, w, client.ObjectKeyFromObject(ts), t.Stable, t.Canary)
	r.notePending(ts, w.svc, pendingAfter(ts.Status.PendingWrite, writePromote, t.Stable, t.Canary, 100, o, now))
	r.expectWrite(w, ts, rm, 100, r.Clock.Now(), false)
	st := &ts.Status
	st.LastDecision = decision(t, now)
	r.finish(ts, w.spec.HistoryLimit, t.Phase, t.Reason, t.Message, now)
	st.Stable, st.Weight, st.Step = t.Canary, t.Weight, t.Step
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, reason.Promoted, t.Message)
	return nil
}

// advance writes the next step's weight. The step's dwell starts when every
// VirtualService took the weight (or at confirmation), not at the decision: a write that
// waited on the API server (etcd down: the patch is held until etcd is back) would
// otherwise count the wait as dwell, and the step could end at its first tick.
func (r *Reconciler) advance(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, t lifecycle.Transition, now time.Time) error {
	if o := r.setWeight(ctx, w, client.ObjectKeyFromObject(ts), t.Stable, t.Canary, t.Weight); !o.Complete() {
		r.undoStep(ctx, w, ts, t, o, ts.Status.Weight, now)
		return errStepNotWritten
	}
	applied := r.Clock.Now()
	r.writesComplete(ts, t.Weight)
	st := &ts.Status
	st.LastDecision = decision(t, now)
	st.Step, st.Weight = t.Step, t.Weight
	st.StepStartedAt, st.StepRequests = microPtr(applied), 0
	rm.step, rm.stepReqs = st.Step, 0
	r.expectWrite(w, ts, rm, t.Weight, applied, true)
	setCondition(ts, sluicev1alpha1.ConditionProgressing, true, reason.StepAdvanced, t.Events[0].Note)
	return nil
}

// finish closes a rollout: its result goes first into the history.
func (r *Reconciler) finish(ts *sluicev1alpha1.TrafficShift, limit int, result sluicev1alpha1.Phase, why, msg string, now time.Time) {
	st := &ts.Status
	rec := sluicev1alpha1.RolloutRecord{
		Stable: st.Stable, Canary: st.Canary, Result: result, Reason: why, Message: msg,
		StartedAt: startedAt(st), FinishedAt: timePtr(now), Release: st.Release.DeepCopy(),
	}
	st.History = append([]sluicev1alpha1.RolloutRecord{rec}, st.History...)
	if limit >= 0 && len(st.History) > limit {
		st.History = st.History[:limit]
	}
	st.Phase, st.PausedReason = result, ""
}

// markAlerts records that the transition acted on its alerts.
func markAlerts(ts *sluicev1alpha1.TrafficShift, t lifecycle.Transition, now time.Time) {
	for i := range ts.Status.Alerts {
		a := &ts.Status.Alerts[i]
		if a.ActedAt == nil && slices.Contains(t.Alerts, a.Fingerprint) {
			a.ActedAt, a.Action = microPtr(now), t.AlertAction
		}
	}
}

func isProblem(err error) bool {
	var p *lifecycle.Problem
	return errors.As(err, &p)
}
