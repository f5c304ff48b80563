package controller

import (
	"context"
	"fmt"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/pkg/analysis"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

type vsObj = networkingv1.VirtualService

// act carries out a decision: at most one weight write per VirtualService, then status.
func (r *Reconciler) act(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, rm *rolloutMemory, d analysis.Decision, stable, canary string, observed []int32, now time.Time) error {
	st := &ts.Status
	key := client.ObjectKeyFromObject(ts)
	decided := &sluicev1alpha1.Decision{Action: string(d.Action), Reason: d.Reason, Message: d.Message, Time: timePtr(now)}
	if d.Action != analysis.Hold && r.Metrics != nil {
		r.Metrics.Decisions.WithLabelValues(string(d.Action), d.Reason).Inc()
	}
	switch d.Action {
	case analysis.Rollback:
		if err := r.setWeight(ctx, w, key, stable, canary, 0); err != nil {
			return err
		}
		if r.Metrics != nil {
			r.Metrics.FaultToZero.Observe(r.Clock.Since(now).Seconds())
		}
		r.expectWrite(w, ts, rm, 0, r.Clock.Now(), false)
		if r.confirming(w) {
			rm.drain = &canaryDrain{start: r.Clock.Now()}
		}
		st.LastDecision = decided
		r.finish(ts, w.spec.HistoryLimit, sluicev1alpha1.PhaseRolledBack, d.Reason, d.Message, now)
		st.Weight = 0
		setCondition(ts, sluicev1alpha1.ConditionProgressing, false, d.Reason, d.Message)
		r.event(ts, w.svc, corev1.EventTypeWarning, ReasonRolledBack, "Rollback", "canary %q rolled back (%s): %s", canary, d.Reason, d.Message)
		r.setWeightMetric(ts, 0)
	case analysis.Promote:
		if err := r.promoteRoutes(ctx, w, key, stable, canary); err != nil {
			return err
		}
		r.expectWrite(w, ts, rm, 100, r.Clock.Now(), false)
		st.LastDecision = decided
		r.finish(ts, w.spec.HistoryLimit, sluicev1alpha1.PhasePromoted, d.Reason, d.Message, now)
		st.Stable, st.Weight = canary, 100
		st.Step = int32(len(w.spec.Steps))
		setCondition(ts, sluicev1alpha1.ConditionProgressing, false, ReasonPromoted, d.Message)
		r.event(ts, w.svc, corev1.EventTypeNormal, ReasonPromoted, "Promote", "canary %q promoted: it is the new stable (%s)", canary, d.Message)
		r.setWeightMetric(ts, 100)
	case analysis.Advance:
		next, ok := w.spec.Steps.At(st.Step + 1)
		if !ok {
			return fmt.Errorf("advance past the last step %d of %d", st.Step, len(w.spec.Steps))
		}
		if err := r.setWeight(ctx, w, key, stable, canary, next.Weight); err != nil {
			return err
		}
		from := st.Weight
		st.LastDecision = decided
		st.Step, st.Weight = st.Step+1, next.Weight
		st.StepStartedAt, st.StepRequests = microPtr(now), 0
		rm.step, rm.stepReqs = st.Step, 0
		r.expectWrite(w, ts, rm, next.Weight, r.Clock.Now(), true)
		msg := fmt.Sprintf("canary weight %d → %d (step %d/%d): %s", from, next.Weight, st.Step, len(w.spec.Steps), d.Message)
		setCondition(ts, sluicev1alpha1.ConditionProgressing, true, ReasonStepAdvanced, msg)
		r.event(ts, w.svc, corev1.EventTypeNormal, ReasonStepAdvanced, "Advance", "%s", msg)
		r.setWeightMetric(ts, next.Weight)
	case analysis.Pause:
		if st.Phase == sluicev1alpha1.PhasePaused {
			break
		}
		st.LastDecision = decided
		st.Phase, st.PausedReason = sluicev1alpha1.PhasePaused, d.Reason
		reason := ReasonPaused
		if d.Reason == analysis.ReasonExternalWeightChange {
			reason = ReasonExternalWeights
			if len(observed) == 1 {
				// Hold what the other party wrote; sluice neither fights nor forgets it.
				st.Weight = observed[0]
			}
		}
		if d.Reason == analysis.ReasonPaused {
			st.PausedReason = pausedByOperator
		}
		setCondition(ts, sluicev1alpha1.ConditionProgressing, false, d.Reason, d.Message)
		r.event(ts, w.svc, corev1.EventTypeWarning, reason, "Pause", "rollout of %q paused at weight %d: %s", canary, st.Weight, d.Message)
	case analysis.Hold:
		if st.LastDecision == nil || st.LastDecision.Reason != d.Reason || st.LastDecision.Message != d.Message {
			st.LastDecision = decided
		}
	}
	return nil
}

// finish closes a rollout: its result goes first into the history.
func (r *Reconciler) finish(ts *sluicev1alpha1.TrafficShift, limit int, result sluicev1alpha1.Phase, reason, msg string, now time.Time) {
	st := &ts.Status
	rec := sluicev1alpha1.RolloutRecord{
		Stable: st.Stable, Canary: st.Canary, Result: result, Reason: reason, Message: msg,
		StartedAt: startedAt(st), FinishedAt: timePtr(now),
	}
	st.History = append([]sluicev1alpha1.RolloutRecord{rec}, st.History...)
	if limit >= 0 && len(st.History) > limit {
		st.History = st.History[:limit]
	}
	st.Phase, st.PausedReason = result, ""
}

// patchAll applies one transform per VirtualService and stops at the first failure. The
// target weight is remembered while writing so that a partial write is never taken for
// someone else's edit.
func (r *Reconciler) patchAll(ctx context.Context, w *world, key types.NamespacedName, weight int32, transform func(*vsObj) ([]byte, bool, error)) error {
	if rm := r.mem.peek(key); rm != nil {
		rm.pending = &weight
	}
	for _, vs := range w.vss {
		patch, changed, err := transform(vs)
		if err != nil {
			return fmt.Errorf("computing the weight change for VirtualService %s/%s: %w", vs.Namespace, vs.Name, err)
		}
		if !changed {
			continue
		}
		if err := istio.ApplyPatch(ctx, r.Client, vs, patch); err != nil {
			if r.Metrics != nil {
				r.Metrics.PatchFailures.WithLabelValues(w.svc.Namespace, w.svc.Name).Inc()
			}
			return fmt.Errorf("patching VirtualService %s/%s to canary weight %d: %w", vs.Namespace, vs.Name, weight, err)
		}
		log.FromContext(ctx).Info("patched VirtualService", "virtualservice", vs.Name, "canaryWeight", weight)
	}
	return nil
}
