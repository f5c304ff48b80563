package lifecycle

import (
	"fmt"
	"strings"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/spec"
)

// optOutCheck: without the opt-in sluice stops managing the Service, first sending the
// traffic of a rollout under way back to stable.
func optOutCheck(w World) (Transition, bool) {
	if w.Enabled {
		return Transition{}, false
	}
	if !w.Tracked {
		return Transition{Kind: Nothing, Message: "not opted in"}, true
	}
	st := w.Status
	t := Transition{Kind: OptOut, Reason: reason.OptedOut, Stable: st.Stable, Canary: st.Canary, Release: true,
		Message: fmt.Sprintf("%s removed: sluice stops managing the Service", spec.AnnEnabled)}
	if p := st.PendingWrite; p != nil {
		t.Release = false
		t.Message = fmt.Sprintf("%s removed: sluice stops managing the Service once its %s write reaches every VirtualService", spec.AnnEnabled, p.Action)
		return t, true
	}
	if Active(st.Phase) && st.Canary != "" && st.Stable != "" {
		t.ReturnTraffic = true
		t.Message = fmt.Sprintf("%s removed during the rollout of %q: all traffic returned to %q; sluice stops managing the Service", spec.AnnEnabled, st.Canary, st.Stable)
		t.Events = []Event{{Reason: reason.OptedOut, Action: "Rollback", Note: t.Message}}
	}
	return t, true
}

// convergeCheck: a write that some VirtualServices have not taken (a rollback, a
// promotion, a step set back) is tried again, once per reconcile, before anything else.
func convergeCheck(w World) (Transition, bool) {
	p := w.Status.PendingWrite
	if p == nil || w.Retried {
		return Transition{}, false
	}
	return Transition{Kind: Converge, Reason: reason.WriteFailed, Stable: p.Stable, Canary: p.Canary, Weight: p.Weight,
		Message: fmt.Sprintf("retrying the %s write (canary %q at weight %d) on %d VirtualService(s)", p.Action, p.Canary, p.Weight, len(p.Failures))}, true
}

// joinCheck: a VirtualService that began routing to the host with the canary at 0 in the
// middle of a rollout gets the rollout's weight, once per reconcile.
func joinCheck(w World) (Transition, bool) {
	st := w.Status
	if !Active(st.Phase) || len(w.Joining) == 0 || w.Joined || st.Weight == 0 {
		return Transition{}, false
	}
	msg := fmt.Sprintf("VirtualService(s) %s route to %s: they join the rollout of %q at canary weight %d", strings.Join(w.Joining, ", "), w.Host, w.Canary, st.Weight)
	return Transition{Kind: Join, Reason: reason.VirtualServiceJoined, Message: msg, Stable: w.Stable, Canary: w.Canary, Weight: st.Weight,
		VirtualServices: w.Joining, Events: []Event{{Reason: reason.VirtualServiceJoined, Action: "Join", Note: msg}}}, true
}

// canaryUndefinedCheck: the canary's subset left the DestinationRules while the canary
// carries traffic. Routes to an undefined subset fail every request, so the canary's
// traffic goes back to stable at once (a rollback); then the Service is Invalid like
// any release naming an undefined subset. Without the stable's subset too, moving
// weights cannot help: invalidCheck marks it Invalid and writes nothing.
func canaryUndefinedCheck(w World) (Transition, bool) {
	st := w.Status
	if !w.CanaryUndefined || w.Problem == nil || !Active(st.Phase) || st.Canary != w.Canary {
		return Transition{}, false
	}
	msg := fmt.Sprintf("the DestinationRules no longer define canary subset %q (%s): its traffic went back to %q", w.Canary, w.Problem.Message, w.Stable)
	return Transition{Kind: Rollback, Reason: reason.CanarySubsetRemoved, Message: msg, Stable: w.Stable, Canary: w.Canary,
		Weight: 0, Step: st.Step, Phase: v1alpha1.PhaseRolledBack,
		Events: []Event{{Warning: true, Reason: reason.RolledBack, Action: "Rollback", Note: fmt.Sprintf("canary %q rolled back (%s): %s", w.Canary, reason.CanarySubsetRemoved, msg)}}}, true
}

// invalidCheck: bad input is terminal and changes nothing. Mid-rollout, the message says
// that the canary keeps its weight without a guard until the input is fixed.
func invalidCheck(w World) (Transition, bool) {
	if w.Problem == nil {
		return Transition{}, false
	}
	t := invalid(w.Problem)
	if st := w.Status; (Active(st.Phase) || st.Phase == v1alpha1.PhaseInvalid) && st.Canary != "" && st.Weight > 0 && st.RolloutStartedAt != nil {
		t.Message += fmt.Sprintf("; the rollout of %q is suspended at step %d (canary weight %d as last written), unguarded, until this is fixed", st.Canary, st.Step, st.Weight)
	}
	return t, true
}

// followUpCheck: after a rollback or promotion the controller follows the last write at
// the callers (and the canary's traffic until it stops) before looking at new commands.
func followUpCheck(w World) (Transition, bool) {
	if !w.Following || Active(w.Status.Phase) {
		return Transition{}, false
	}
	return Transition{Kind: FollowUp, Message: "following the finished rollout's last write at the callers"}, true
}

// supersedeCheck: a rollout under way for a canary the annotation no longer names
// returns its traffic to stable.
func supersedeCheck(w World) (Transition, bool) {
	st := w.Status
	if !Active(st.Phase) || st.Canary == w.Canary {
		return Transition{}, false
	}
	msg := fmt.Sprintf("canary %q is no longer named by %s; its traffic went back to %q", st.Canary, spec.AnnCanary, w.Stable)
	return Transition{Kind: Supersede, Reason: reason.Superseded, Message: msg, Stable: w.Stable, Canary: st.Canary,
		Weight: 0, Phase: v1alpha1.PhaseIdle, Events: []Event{{Reason: reason.Superseded, Action: "Rollback", Note: msg}}}, true
}

// recoverCheck: a rollout that became Invalid continues once the input is valid again
// and the routes still hold the weight sluice wrote.
func recoverCheck(w World) (Transition, bool) {
	st := w.Status
	if st.Phase != v1alpha1.PhaseInvalid || st.Canary == "" || st.Canary != w.Canary || st.Weight <= 0 || st.RolloutStartedAt == nil {
		return Transition{}, false
	}
	if w.Routes.Problem != nil {
		return invalid(w.Routes.Problem), true
	}
	if len(w.Routes.CanaryWeights) != 1 || w.Routes.CanaryWeights[0] != st.Weight {
		return Transition{}, false // the weights moved meanwhile: start over
	}
	t := Transition{Kind: Recover, Reason: reason.Recovered, Stable: w.Stable, Canary: w.Canary,
		Weight: st.Weight, Step: st.Step, Phase: v1alpha1.PhaseProgressing}
	if w.Spec.Paused {
		t.Phase, t.PausedReason = v1alpha1.PhasePaused, reason.OperatorPause
	}
	t.Message = fmt.Sprintf("rollout of %q continues at step %d, canary weight %d: the input is valid again and the routes hold the weight sluice wrote", w.Canary, st.Step, st.Weight)
	t.Events = []Event{{Reason: reason.Recovered, Action: "Recover", Note: t.Message}}
	return t, true
}

// routesChangedCheck: an active rollout whose routes can no longer be managed is either
// already promoted (the routes send everything to the canary: a promotion whose status
// write was lost, or a person promoting by hand) or invalid.
func routesChangedCheck(w World) (Transition, bool) {
	if !Active(w.Status.Phase) || w.Routes.Problem == nil {
		return Transition{}, false
	}
	if w.Serving == "" || w.Serving != w.Canary {
		return invalid(w.Routes.Problem), true
	}
	msg := fmt.Sprintf("the routes already send all of %s's traffic to %q: recorded as promoted", w.Host, w.Canary)
	return Transition{Kind: RecordPromoted, Reason: reason.CanaryAlreadyServing, Message: msg,
		Stable: w.Canary, Canary: w.Canary, Weight: 100, Step: int32(len(w.Spec.Steps)), Phase: v1alpha1.PhasePromoted,
		Events: []Event{{Reason: reason.Promoted, Action: "Promote", Note: fmt.Sprintf("canary %q promoted: %s", w.Canary, msg)}}}, true
}

// freshRetry reports whether sluice.dev/retry names the canary with a token not yet acted on.
func freshRetry(w World) bool {
	return w.Spec.Retry == w.Canary && w.Spec.RetryToken != "" && w.Spec.RetryToken != w.Status.LastRetry
}

// belowFirstStep reports whether the routes send the canary a single weight below the
// schedule's first step.
func belowFirstStep(w World) bool {
	ws := w.Routes.CanaryWeights
	return len(ws) == 1 && w.Spec.Steps.StepFor(ws[0]) == 0
}

// resumeCheck: a pause by annotation ends when the annotation does; any pause ends with a
// fresh retry naming this canary, which adopts the weights as found and continues from
// the step at or below them.
func resumeCheck(w World) (Transition, bool) {
	st := w.Status
	if st.Phase != v1alpha1.PhasePaused {
		return Transition{}, false
	}
	retry := freshRetry(w)
	if !retry && (st.PausedReason != reason.OperatorPause || w.Spec.Paused) {
		return Transition{}, false
	}
	if retry && (st.Step == 0 || belowFirstStep(w)) {
		// Paused before its first step (the canary's pods were not Ready in time), or the
		// routes were set below it while paused (e.g. the canary put back to 0): adopting
		// them would dwell on a canary with no traffic, so start over, through the health
		// gate.
		t := start(w)
		t.Retry = w.Spec.RetryToken
		return t, true
	}
	t := Transition{Kind: Resume, Reason: reason.Resumed, Stable: w.Stable, Canary: w.Canary,
		Weight: st.Weight, Step: st.Step, Phase: v1alpha1.PhaseProgressing}
	if retry {
		t.Retry = w.Spec.RetryToken
		if ws := w.Routes.CanaryWeights; len(ws) == 1 && ws[0] != st.Weight {
			t.Adopt, t.Weight = true, ws[0]
			t.Step = max(w.Spec.Steps.StepFor(ws[0]), 1)
		}
	}
	t.Message = fmt.Sprintf("rollout of %q resumed at step %d, canary weight %d", w.Canary, t.Step, t.Weight)
	t.Events = []Event{{Reason: reason.Resumed, Action: "Resume", Note: t.Message}}
	return t, true
}

// approveCheck: a rollout waiting for approval goes on once sluice.dev/approve names its
// canary up to (at least) the step's weight.
func approveCheck(w World) (Transition, bool) {
	st := w.Status
	if st.Phase != v1alpha1.PhaseAwaitingApproval || !w.Spec.Approve.Approves(w.Canary, st.Weight) {
		return Transition{}, false
	}
	msg := fmt.Sprintf("step %d (weight %d) of %q approved by %s=%s", st.Step, st.Weight, w.Canary, spec.AnnApprove, approvalText(w.Spec.Approve))
	return Transition{Kind: Approve, Reason: reason.Approved, Message: msg, Stable: w.Stable, Canary: w.Canary,
		Weight: st.Weight, Step: st.Step, Phase: v1alpha1.PhaseProgressing,
		Events: []Event{{Reason: reason.Approved, Action: "Approve", Note: msg}}}, true
}

func approvalText(a spec.Approval) string {
	if a.UpTo >= 100 {
		return a.Canary
	}
	return fmt.Sprintf("%s@%d", a.Canary, a.UpTo)
}

// statsSourceCheck: an active rollout whose stats source cannot be had is invalid.
func statsSourceCheck(w World) (Transition, bool) {
	if !Active(w.Status.Phase) || w.StatsProblem == nil {
		return Transition{}, false
	}
	return invalid(w.StatsProblem), true
}

// noCanaryCheck: without a canary to roll out, sluice records the idle state.
func noCanaryCheck(w World) (Transition, bool) {
	if w.Canary != "" {
		return Transition{}, false
	}
	return settle(w), true
}

// rolledBackCheck: a rolled-back canary stays rolled back until a fresh retry names it
// (and no abort does); then it starts over.
func rolledBackCheck(w World) (Transition, bool) {
	st := w.Status
	if st.Phase != v1alpha1.PhaseRolledBack || st.Canary != w.Canary {
		return Transition{}, false
	}
	if !freshRetry(w) || w.Spec.Abort == w.Canary {
		return settle(w), true
	}
	t := start(w)
	if t.Kind == Start {
		t.Reason, t.Retry = reason.Retried, w.Spec.RetryToken
		retried := Event{Reason: reason.Retried, Action: "Retry", Note: fmt.Sprintf("retrying canary %q (%s=%s)", w.Canary, spec.AnnRetry, w.Spec.RetryToken)}
		t.Events = append([]Event{retried}, t.Events...)
	}
	return t, true
}

// abortBeforeStartCheck: an abort that names a canary not yet started never starts it.
func abortBeforeStartCheck(w World) (Transition, bool) {
	if w.Spec.Abort != w.Canary {
		return Transition{}, false
	}
	return settle(w), true
}

// startCheck: a new canary gets the first step's weight in every managed route.
func startCheck(w World) (Transition, bool) {
	return start(w), true
}

func start(w World) Transition {
	if w.Routes.Problem != nil {
		return invalid(w.Routes.Problem)
	}
	if t, waiting := waitForCanary(w); waiting {
		return t
	}
	if t, ok := adopt(w); ok {
		return t
	}
	first, _ := w.Spec.Steps.At(1)
	t := Transition{Kind: Start, Reason: reason.RolloutStarted, Stable: w.Stable, Canary: w.Canary,
		Weight: first.Weight, Step: 1, Phase: v1alpha1.PhaseProgressing}
	if w.Spec.Retry == w.Canary {
		t.Retry = w.Spec.RetryToken
	}
	if w.Spec.Paused {
		t.Phase, t.PausedReason = v1alpha1.PhasePaused, reason.OperatorPause
	}
	t.Message = fmt.Sprintf("rolling out %q over %q: step 1/%d, canary weight %d", w.Canary, w.Stable, len(w.Spec.Steps), first.Weight)
	t.Events = []Event{{Reason: reason.RolloutStarted, Action: "Start", Note: t.Message}}
	return t
}

// adopt continues a rollout the routes show but no status records: a TrafficShift that
// was never written (deleted by hand mid-rollout, then created again) while the routes
// send a weight of the schedule to the canary the annotation names. The rollout goes on
// at that step, moving no weight, rather than starting over at the first step.
func adopt(w World) (Transition, bool) {
	ws := w.Routes.CanaryWeights
	if w.Status.Phase != "" || len(ws) != 1 || ws[0] <= 0 {
		return Transition{}, false
	}
	step := w.Spec.Steps.StepFor(ws[0])
	if at, ok := w.Spec.Steps.At(step); !ok || at.Weight != ws[0] {
		return Transition{}, false // not a weight of the schedule: start over
	}
	t := Transition{Kind: Start, Adopt: true, Reason: reason.RolloutAdopted, Stable: w.Stable, Canary: w.Canary,
		Weight: ws[0], Step: step, Phase: v1alpha1.PhaseProgressing}
	if w.Spec.Paused {
		t.Phase, t.PausedReason = v1alpha1.PhasePaused, reason.OperatorPause
	}
	t.Message = fmt.Sprintf("the routes send %d%% of %s to %q over %q with no rollout on record (was the TrafficShift deleted?): the rollout continues at step %d/%d",
		ws[0], w.Host, w.Canary, w.Stable, step, len(w.Spec.Steps))
	t.Events = []Event{{Warning: true, Reason: reason.RolloutAdopted, Action: "Start", Note: t.Message}}
	return t, true
}

// settle records an idle or finished state. A first reconcile (no phase) or a recovery
// from Invalid becomes Idle, or Promoted when the last rollout ended at 100.
func settle(w World) Transition {
	if w.IdleRoutes.Problem != nil {
		return invalid(w.IdleRoutes.Problem)
	}
	st := w.Status
	phase := st.Phase
	if phase == "" || phase == v1alpha1.PhaseInvalid || phase == v1alpha1.PhaseWaitingForCanary {
		phase = v1alpha1.PhaseIdle
		if st.Canary != "" && st.Weight == 100 {
			phase = v1alpha1.PhasePromoted
		}
	}
	return Transition{Kind: Settle, Reason: reason.Valid, Message: "no rollout under way", Stable: w.Stable, Phase: phase}
}
