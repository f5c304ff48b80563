package controller

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/record"
)

// tickState is one reconcile's bookkeeping across lifecycle decisions.
type tickState struct {
	// before is the status as read, for the write-if-changed checks.
	before *sluicev1alpha1.TrafficShiftStatus
	// rm is the rollout's memory once the stats were read.
	rm *rolloutMemory
	// resumed: a Resume was applied in this reconcile; the weights it adopted are not
	// someone else's edit.
	resumed bool
	// records are the rollout records of the transitions applied, sent once the status
	// is written.
	records []record.Record
}

// maxDecisions bounds one reconcile: converge, recover, resume, join and observe each
// happen at most once before the decision that ends it.
const maxDecisions = 6

// drive asks the lifecycle what to do and does it, until a decision ends the reconcile.
func (r *Reconciler) drive(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, now time.Time) (ctrl.Result, error) {
	tk := &tickState{}
	if ts != nil {
		tk.before = ts.Status.DeepCopy()
	}
	for range maxDecisions {
		lw, err := r.facts(ctx, w, ts, now)
		if err != nil {
			return ctrl.Result{}, err
		}
		t := lifecycle.Decide(lw)
		log.FromContext(ctx).V(1).Info("lifecycle", "transition", t.Kind, "check", t.Check, "reason", t.Reason)
		switch t.Kind {
		case lifecycle.Observe:
			if err := r.observe(ctx, w, ts, tk, t, now); err != nil {
				return ctrl.Result{}, err
			}
		case lifecycle.Converge:
			if err := r.converge(ctx, w, ts, now); err != nil {
				return ctrl.Result{}, err
			}
		case lifecycle.Join:
			r.join(ctx, w, ts, t)
		case lifecycle.Recover, lifecycle.Resume, lifecycle.Approve:
			r.carryOn(w, ts, tk, t, now)
		case lifecycle.AcknowledgeAlert:
			markAlerts(ts, t, now)
			r.events(ts, w.svc, t.Events)
		default:
			res, err := r.apply(ctx, w, ts, tk, t, now)
			if err == nil {
				r.emit(ctx, w, tk.records)
			}
			return retryPending(ts, res), err
		}
	}
	return ctrl.Result{}, fmt.Errorf("the lifecycle of %s took more than %d decisions in one reconcile", w.target, maxDecisions)
}

// apply carries out a transition that ends the reconcile.
func (r *Reconciler) apply(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) (ctrl.Result, error) {
	switch t.Kind {
	case lifecycle.Nothing:
		return ctrl.Result{}, nil
	case lifecycle.OptOut:
		return ctrl.Result{}, r.optOut(ctx, w, ts, t, now)
	case lifecycle.MarkInvalid:
		return ctrl.Result{}, r.markInvalid(ctx, w, ts, tk, t, now)
	case lifecycle.FollowUp:
		return r.confirmEnded(ctx, w, ts, r.mem.peek(client.ObjectKeyFromObject(ts)))
	case lifecycle.Supersede:
		return r.supersede(ctx, w, ts, tk, t, now)
	case lifecycle.RecordPromoted:
		return ctrl.Result{}, r.recordPromoted(ctx, w, ts, tk, t, now)
	case lifecycle.Settle:
		return ctrl.Result{}, r.settle(ctx, w, ts, tk.before, t)
	case lifecycle.Start:
		return r.start(ctx, w, ts, tk, t, now)
	case lifecycle.WaitForCanary:
		return r.waitForCanary(ctx, w, ts, tk, t, now)
	case lifecycle.Advance, lifecycle.Promote, lifecycle.Rollback, lifecycle.Pause, lifecycle.Hold, lifecycle.AwaitApproval:
		return r.conclude(ctx, w, ts, tk, t, now)
	}
	return ctrl.Result{}, fmt.Errorf("no action for lifecycle transition %q", t.Kind)
}

// retryPending makes sure a write that has not reached every VirtualService is tried
// again, with backoff, however the reconcile ended.
func retryPending(ts *sluicev1alpha1.TrafficShift, res ctrl.Result) ctrl.Result {
	if ts == nil || ts.Status.PendingWrite == nil {
		return res
	}
	retry := pendingBackoff(ts.Status.PendingWrite.Attempts)
	if res.RequeueAfter == 0 || retry < res.RequeueAfter {
		res.RequeueAfter = retry
	}
	return res
}

// carryOn applies a transition after which the same reconcile decides again: a rollout
// recovering from Invalid, or resuming from a pause.
func (r *Reconciler) carryOn(w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) {
	st := &ts.Status
	weightBefore := st.Weight
	st.Phase, st.PausedReason = t.Phase, t.PausedReason
	defer r.note(w, ts, tk, t, weightBefore, now)
	if t.Kind == lifecycle.Resume {
		tk.resumed = true
		if t.Retry != "" {
			st.LastRetry = t.Retry
		}
		if t.Adopt {
			st.Weight, st.Step = t.Weight, t.Step
			st.StepStartedAt, st.StepRequests = microPtr(now), 0
		}
		st.LastDecision = decision(t, now)
	}
	r.events(ts, w.svc, t.Events)
}

// decision is t as the status's last decision.
func decision(t lifecycle.Transition, now time.Time) *sluicev1alpha1.Decision {
	return &sluicev1alpha1.Decision{Action: t.Action(), Reason: t.Reason, Message: t.Message, Time: timePtr(now)}
}

// events records the transition's Events on the TrafficShift, related to the Service.
func (r *Reconciler) events(ts *sluicev1alpha1.TrafficShift, svc *corev1.Service, evs []lifecycle.Event) {
	for _, e := range evs {
		typ := corev1.EventTypeNormal
		if e.Warning {
			typ = corev1.EventTypeWarning
		}
		r.event(ts, svc, typ, e.Reason, e.Action, "%s", e.Note)
	}
}
