package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// Reasons of Events and status decisions that the controller itself produces (the
// decision engine's reasons come from pkg/analysis).
const (
	ReasonRolloutStarted   = "RolloutStarted"
	ReasonStepAdvanced     = "StepAdvanced"
	ReasonPromoted         = "Promoted"
	ReasonRolledBack       = "RolledBack"
	ReasonPaused           = "Paused"
	ReasonResumed          = "Resumed"
	ReasonSuperseded       = "Superseded"
	ReasonOptedOut         = "OptedOut"
	ReasonExternalWeights  = "ExternalWeightChange"
	ReasonBypassRoutes     = "RoutesBypassShift"
	ReasonStatsUnavailable = "StatsUnavailable"
	ReasonRetried          = "Retried"
	ReasonValid            = "Valid"
	pausedByOperator       = "OperatorPause"
)

func active(p sluicev1alpha1.Phase) bool {
	return p == sluicev1alpha1.PhaseProgressing || p == sluicev1alpha1.PhasePaused
}

// reconcileRollout runs the lifecycle of an opted-in Service.
func (r *Reconciler) reconcileRollout(ctx context.Context, svc *corev1.Service, ts *sluicev1alpha1.TrafficShift, now time.Time) (ctrl.Result, error) {
	// Between full ticks a pending weight write is only looked for in the callers' config
	// dumps, with what the last full tick gathered: the measured propagation then is not
	// stretched by a tick's reads.
	if rm := r.mem.peek(client.ObjectKeyFromObject(ts)); rm != nil && rm.world != nil && rm.confirm != nil && !rm.confirm.reported &&
		active(ts.Status.Phase) && now.Sub(rm.lastTick) < rm.tickEvery(rm.lastTick, rm.world.spec.Interval) {
		return r.confirmOnly(ctx, rm.world, ts, rm, now)
	}
	w, err := r.gather(ctx, svc)
	if inv := (*invalid)(nil); errors.As(err, &inv) {
		return ctrl.Result{}, r.markInvalid(ctx, ts, inv)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	st := &ts.Status
	stable := st.Stable
	if stable == "" {
		stable = w.spec.Stable
	}
	if stable == "" {
		if stable, err = w.inferStable(); err != nil {
			return ctrl.Result{}, r.markInvalid(ctx, ts, err.(*invalid))
		}
	}
	canary := w.spec.Canary
	if canary == stable {
		canary = ""
	}
	checkSubsets := []string{stable}
	if canary != "" {
		checkSubsets = append(checkSubsets, canary)
	}
	if err := istio.CheckSubsets(w.drs, w.target, checkSubsets...); err != nil {
		return ctrl.Result{}, r.markInvalid(ctx, ts, &invalid{ReasonSubsetMissing, err.Error()})
	}

	// A finished rollout whose last write the callers have not confirmed yet.
	if rm := r.mem.peek(client.ObjectKeyFromObject(ts)); rm != nil && (rm.confirm != nil || rm.drain != nil) && !active(st.Phase) {
		return r.confirmEnded(ctx, w, ts, rm)
	}
	// A rollout under way for a canary the annotation no longer names: return its traffic.
	if active(st.Phase) && st.Canary != canary {
		return r.supersede(ctx, w, ts, stable, now)
	}
	// Recovering from Invalid during a rollout: resume when the VirtualService still has
	// the weight sluice wrote.
	if st.Phase == sluicev1alpha1.PhaseInvalid && st.Canary != "" && st.Canary == canary && st.Weight > 0 && st.RolloutStartedAt != nil {
		_, _, byVS, err := w.routes(stable, canary)
		if err != nil {
			return ctrl.Result{}, r.markInvalid(ctx, ts, err.(*invalid))
		}
		if ws := observedCanaryWeights(byVS); len(ws) == 1 && ws[0] == st.Weight {
			st.Phase = sluicev1alpha1.PhaseProgressing
			if w.spec.Paused {
				st.Phase, st.PausedReason = sluicev1alpha1.PhasePaused, pausedByOperator
			}
		}
	}
	if active(st.Phase) {
		return r.tick(ctx, w, ts, stable, canary, now)
	}
	if canary == "" {
		return ctrl.Result{}, r.settle(ctx, w, ts, stable)
	}
	if st.Phase == sluicev1alpha1.PhaseRolledBack && st.Canary == canary {
		if w.spec.Retry != canary || w.spec.RetryToken == st.LastRetry || w.spec.Abort == canary {
			return ctrl.Result{}, r.settle(ctx, w, ts, stable)
		}
		r.event(ts, svc, corev1.EventTypeNormal, ReasonRetried, "Retry", "retrying canary %q (%s=%s)", canary, "sluice.dev/retry", w.spec.RetryToken)
	}
	if w.spec.Abort == canary {
		// An abort that names a canary not yet started: never start it.
		return ctrl.Result{}, r.settle(ctx, w, ts, stable)
	}
	return r.start(ctx, w, ts, stable, canary, now)
}

// settle records an idle (or finished) state: valid spec, routes found, nothing to move.
func (r *Reconciler) settle(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, stable string) error {
	managed, bypass, _, err := w.routes(stable, "")
	if err != nil {
		return r.markInvalid(ctx, ts, err.(*invalid))
	}
	before := ts.Status.DeepCopy()
	st := &ts.Status
	st.Stable = stable
	if st.Phase == "" || st.Phase == sluicev1alpha1.PhaseInvalid {
		st.Phase = sluicev1alpha1.PhaseIdle
		if st.Canary != "" && st.Weight == 100 {
			st.Phase = sluicev1alpha1.PhasePromoted
		}
	}
	r.noteRoutes(w, ts, managed, bypass)
	setCondition(ts, sluicev1alpha1.ConditionReady, true, ReasonValid, "annotations, policy and routes are valid")
	setCondition(ts, sluicev1alpha1.ConditionProgressing, false, string(st.Phase), "no rollout under way")
	return r.writeStatusIfChanged(ctx, ts, before)
}

// start begins a rollout of canary: the first step's weight in every managed route.
func (r *Reconciler) start(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, stable, canary string, now time.Time) (ctrl.Result, error) {
	managed, bypass, _, err := w.routes(stable, canary)
	if err != nil {
		return ctrl.Result{}, r.markInvalid(ctx, ts, err.(*invalid))
	}
	first, _ := w.spec.Steps.At(1)
	key := client.ObjectKeyFromObject(ts)
	rm := r.mem.get(key, canary, now.Truncate(time.Microsecond), w.spec.Guard.Window, 0, 1)
	// The windows' first read, before the canary gets traffic: counters are cumulative, so
	// without it the first tick would only set the baseline, and a canary failing from its
	// first request would be judged a tick later.
	if _, _, _, err := r.observe(ctx, w, rm, stable, canary, now); err != nil {
		log.FromContext(ctx).V(1).Info("no baseline read of the stats at the rollout's start; the first tick takes it", "error", err.Error())
	}
	if err := r.setWeight(ctx, w, key, stable, canary, first.Weight); err != nil {
		return ctrl.Result{}, err
	}
	st := &ts.Status
	st.Phase = sluicev1alpha1.PhaseProgressing
	st.Stable, st.Canary = stable, canary
	st.Step, st.Weight = 1, first.Weight
	st.RolloutStartedAt, st.StepStartedAt = microPtr(now), microPtr(now)
	st.StepRequests, st.PausedReason, st.Window = 0, "", nil
	if w.spec.Retry == canary {
		st.LastRetry = w.spec.RetryToken
	}
	if w.spec.Paused {
		st.Phase, st.PausedReason = sluicev1alpha1.PhasePaused, pausedByOperator
	}
	r.noteRoutes(w, ts, managed, bypass)
	rm.lastTick, rm.world = now, w
	r.expectWrite(w, ts, rm, first.Weight, r.Clock.Now(), true)
	msg := fmt.Sprintf("rolling out %q over %q: step 1/%d, canary weight %d", canary, stable, len(w.spec.Steps), first.Weight)
	st.LastDecision = &sluicev1alpha1.Decision{Action: "Start", Reason: ReasonRolloutStarted, Message: msg, Time: timePtr(now)}
	setCondition(ts, sluicev1alpha1.ConditionReady, true, ReasonValid, "annotations, policy and routes are valid")
	setCondition(ts, sluicev1alpha1.ConditionProgressing, true, ReasonRolloutStarted, msg)
	r.event(ts, w.svc, corev1.EventTypeNormal, ReasonRolloutStarted, "Start", "%s", msg)
	r.setWeightMetric(ts, first.Weight)
	if err := r.writeStatus(ctx, ts); err != nil {
		return ctrl.Result{}, err
	}
	if rm.confirm != nil {
		return ctrl.Result{RequeueAfter: confirmPoll}, nil
	}
	return ctrl.Result{RequeueAfter: w.spec.Interval}, nil
}

// supersede ends an active rollout whose canary is no longer the one asked for.
func (r *Reconciler) supersede(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, stable string, now time.Time) (ctrl.Result, error) {
	st := &ts.Status
	old := st.Canary
	if err := r.setWeight(ctx, w, client.ObjectKeyFromObject(ts), stable, old, 0); err != nil {
		return ctrl.Result{}, err
	}
	msg := fmt.Sprintf("canary %q is no longer named by sluice.dev/canary; its traffic went back to %q", old, stable)
	r.finish(ts, w.spec.HistoryLimit, sluicev1alpha1.PhaseRolledBack, ReasonSuperseded, msg, now)
	st.Phase = sluicev1alpha1.PhaseIdle
	st.Weight, st.Step = 0, 0
	r.event(ts, w.svc, corev1.EventTypeNormal, ReasonSuperseded, "Rollback", "%s", msg)
	r.setWeightMetric(ts, 0)
	if err := r.writeStatus(ctx, ts); err != nil {
		return ctrl.Result{}, err
	}
	r.mem.forget(client.ObjectKeyFromObject(ts))
	return ctrl.Result{RequeueAfter: time.Millisecond}, nil
}

// optOut returns all traffic to stable when the opt-in is removed mid-rollout, then stops
// managing the Service by deleting its TrafficShift.
func (r *Reconciler) optOut(ctx context.Context, svc *corev1.Service, ts *sluicev1alpha1.TrafficShift) error {
	key := client.ObjectKeyFromObject(ts)
	st := &ts.Status
	if active(st.Phase) && st.Canary != "" && st.Stable != "" {
		w := &world{svc: svc, target: istio.Target{Name: svc.Name, Namespace: svc.Namespace}}
		if names := st.VirtualServices; len(names) > 0 {
			w.spec.VirtualServices = names
		}
		vss, err := r.virtualServices(ctx, w)
		if err != nil && !isInvalid(err) {
			return err
		}
		w.vss = vss
		if err := r.setWeight(ctx, w, key, st.Stable, st.Canary, 0); err != nil {
			return err
		}
		r.event(ts, svc, corev1.EventTypeNormal, ReasonOptedOut, "Rollback", "sluice.dev/enabled removed during the rollout of %q: all traffic returned to %q; sluice stops managing %s", st.Canary, st.Stable, svc.Name)
	}
	r.mem.forget(key)
	if err := r.Client.Delete(ctx, ts); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting TrafficShift %s: %w", key, err)
	}
	log.FromContext(ctx).Info("stopped managing Service (opt-in removed)")
	return nil
}

func isInvalid(err error) bool {
	var inv *invalid
	return errors.As(err, &inv)
}

// setWeight writes canary weight w into every managed route of every VirtualService.
func (r *Reconciler) setWeight(ctx context.Context, w *world, key types.NamespacedName, stable, canary string, weight int32) error {
	return r.patchAll(ctx, w, key, weight, func(vs *vsObj) ([]byte, bool, error) {
		return istio.SetWeight(vs, w.target, stable, canary, weight)
	})
}

// promoteRoutes leaves the canary alone at 100 in every managed route.
func (r *Reconciler) promoteRoutes(ctx context.Context, w *world, key types.NamespacedName, stable, canary string) error {
	return r.patchAll(ctx, w, key, 100, func(vs *vsObj) ([]byte, bool, error) {
		return istio.Promote(vs, w.target, stable, canary)
	})
}
