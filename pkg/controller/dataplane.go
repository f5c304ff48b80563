package controller

import (
	"context"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/source"
)

// confirmPoll is how often the callers are read while a write is unconfirmed: it bounds
// the error of the measured propagation time.
const confirmPoll = 25 * time.Millisecond

// pendingConfirm is a weight write the callers have not been seen to apply yet.
type pendingConfirm struct {
	weight    int32
	writtenAt time.Time
	step      bool // the step's dwell starts at confirmation
	reported  bool // the timeout was reported
}

// canaryDrain watches the canary's counters after a rollback until they stop growing.
type canaryDrain struct {
	start     time.Time
	count     uint64
	changedAt time.Time // the read that first saw count
	seen      bool
}

// drainQuiet is how long the canary's counters must stay still to call its traffic stopped;
// drainPoll how often they are read meanwhile.
const (
	drainQuiet = time.Second
	drainPoll  = 100 * time.Millisecond
)

func (r *Reconciler) confirming(w *world) bool { return r.DataPlane != nil && w.spec.StatsFrom != nil }

// expectWrite records a weight write that the callers must confirm.
func (r *Reconciler) expectWrite(w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, weight int32, writtenAt time.Time, step bool) {
	if !r.confirming(w) || rm == nil {
		return
	}
	rm.confirm = &pendingConfirm{weight: weight, writtenAt: writtenAt, step: step}
	ts.Status.DataPlane = &sluicev1alpha1.DataPlaneStatus{Weight: weight, WrittenAt: microPtr(writtenAt)}
	setCondition(ts, sluicev1alpha1.ConditionDataPlane, false, reason.Propagating, fmt.Sprintf("waiting for the callers to apply canary weight %d", weight))
}

// checkDataPlane reads the callers once and reports whether the write is still unconfirmed.
func (r *Reconciler) checkDataPlane(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory) bool {
	pc := rm.confirm
	if pc == nil || !r.confirming(w) {
		return false
	}
	res, err := r.DataPlane.Check(ctx, w.svc.Namespace, w.spec.StatsFrom, w.target.FQDN(), rm.canary, pc.weight)
	now := r.Clock.Now()
	dp := ts.Status.DataPlane
	if dp == nil {
		dp = &sluicev1alpha1.DataPlaneStatus{Weight: pc.weight, WrittenAt: microPtr(pc.writtenAt)}
		ts.Status.DataPlane = dp
	}
	dp.Callers, dp.Applied = int32(res.Callers), int32(res.Applied)
	if err == nil && res.Done() {
		took := now.Sub(pc.writtenAt)
		dp.AppliedAt = microPtr(now)
		dp.PropagationSeconds = strconv.FormatFloat(took.Seconds(), 'f', 3, 64)
		if r.Metrics != nil {
			r.Metrics.Propagation.Observe(took.Seconds())
		}
		if pc.step {
			ts.Status.StepStartedAt = microPtr(now)
		}
		setCondition(ts, sluicev1alpha1.ConditionDataPlane, true, reason.Applied,
			fmt.Sprintf("%d caller(s) route with canary weight %d, %s after the write", res.Callers, pc.weight, took.Round(time.Millisecond)))
		rm.confirm = nil
		return false
	}
	if now.Sub(pc.writtenAt) > r.dataPlaneTimeout() && !pc.reported {
		pc.reported = true
		why := fmt.Sprintf("%d of %d caller(s) route with canary weight %d, %d could not be read", res.Applied, res.Callers, pc.weight, res.Failed)
		if err != nil {
			why = err.Error()
		}
		msg := fmt.Sprintf("the callers did not apply canary weight %d within %s: %s; the step's dwell has not started", pc.weight, r.dataPlaneTimeout(), why)
		setCondition(ts, sluicev1alpha1.ConditionDataPlane, false, reason.DataPlaneUnconfirmed, msg)
		r.event(ts, w.svc, corev1.EventTypeWarning, reason.DataPlaneUnconfirmed, "Confirm", "%s", msg)
	}
	return true
}

func (r *Reconciler) dataPlaneTimeout() time.Duration {
	if r.DataPlaneTimeout > 0 {
		return r.DataPlaneTimeout
	}
	return 10 * time.Second
}

// confirmEnded keeps reading the callers after a rollback or promotion until they apply
// it (or the timeout passes), and after a rollback until the canary's traffic stops, so
// the status says when traffic really moved.
func (r *Reconciler) confirmEnded(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory) (ctrl.Result, error) {
	before := ts.Status.DeepCopy()
	pending := r.checkDataPlane(ctx, w, ts, rm)
	drained := true
	if !pending && rm.drain != nil && r.confirming(w) {
		var err error
		if drained, err = r.watchDrain(ctx, w, ts, rm); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.writeStatusIfChanged(ctx, ts, before); err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case pending && !rm.confirm.reported:
		return ctrl.Result{RequeueAfter: confirmPoll}, nil
	case !pending && !drained:
		return ctrl.Result{RequeueAfter: drainPoll}, nil
	}
	r.forget(client.ObjectKeyFromObject(ts))
	// Annotations may have changed while the callers were watched: look again at once.
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// watchDrain reads the canary's cumulative request count once and reports whether its
// traffic has stopped (no growth for drainQuiet) or the data-plane timeout has passed.
func (r *Reconciler) watchDrain(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory) (bool, error) {
	d := rm.drain
	pods, err := r.subsetPods(ctx, w, rm.canary)
	if err != nil {
		return false, err
	}
	src, err := r.Stats.pick(w)
	if err != nil {
		return true, nil
	}
	snap, err := src.Read(ctx, source.Request{Host: w.target.FQDN(), Namespace: w.svc.Namespace,
		Subsets: map[string][]corev1.Pod{rm.canary: pods}, StatsFrom: w.spec.StatsFrom, MaxAge: drainPoll / 2})
	now := r.Clock.Now()
	if err == nil && snap.Subsets[rm.canary].Failed == 0 {
		var total uint64
		for _, c := range snap.Subsets[rm.canary].OK {
			total += c.Requests
		}
		if !d.seen || total != d.count {
			d.count, d.changedAt, d.seen = total, now, true
		}
		if dp := ts.Status.DataPlane; now.Sub(d.changedAt) >= drainQuiet && dp != nil {
			dp.CanaryDrainedAt = microPtr(d.changedAt)
			if dp.WrittenAt != nil {
				dp.DrainSeconds = strconv.FormatFloat(d.changedAt.Sub(dp.WrittenAt.Time).Seconds(), 'f', 3, 64)
			}
			return true, nil
		}
	}
	return now.Sub(d.start) > r.dataPlaneTimeout(), nil
}
