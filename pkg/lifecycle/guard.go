package lifecycle

import (
	"fmt"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/spec"
)

// guardCheck: an active rollout is judged on every tick. Without the guard's verdict the
// controller is asked to read the stats (Observe); with it, the verdict becomes the
// transition.
func guardCheck(w World) (Transition, bool) {
	if !Active(w.Status.Phase) {
		return Transition{}, false
	}
	if w.Guard == nil {
		return Transition{Kind: Observe, Message: "reading the stats for the guard", Stable: w.Stable, Canary: w.Canary}, true
	}
	return judged(w, *w.Guard), true
}

// judged turns the guard's verdict d into the transition it asks for.
func judged(w World, d analysis.Decision) Transition {
	st := w.Status
	t := Transition{Reason: d.Reason, Message: d.Message, Stable: w.Stable, Canary: w.Canary, Weight: st.Weight, Step: st.Step, Phase: st.Phase}
	switch d.Action {
	case analysis.Rollback:
		t.Kind, t.Weight, t.Phase = Rollback, 0, v1alpha1.PhaseRolledBack
		t.Events = []Event{{Warning: true, Reason: reason.RolledBack, Action: "Rollback",
			Note: fmt.Sprintf("canary %q rolled back (%s): %s", w.Canary, d.Reason, d.Message)}}
	case analysis.Promote:
		t.Kind, t.Weight, t.Step, t.Phase = Promote, 100, int32(len(w.Spec.Steps)), v1alpha1.PhasePromoted
		t.Events = []Event{{Reason: reason.Promoted, Action: "Promote",
			Note: fmt.Sprintf("canary %q promoted: it is the new stable (%s)", w.Canary, d.Message)}}
	case analysis.Advance:
		next, ok := w.Spec.Steps.At(st.Step + 1)
		if !ok {
			t.Kind, t.Reason, t.Record = Hold, reason.InvalidStep, true
			t.Message = fmt.Sprintf("step %d is the last of %d: nothing to advance to", st.Step, len(w.Spec.Steps))
			return t
		}
		t.Kind, t.Weight, t.Step = Advance, next.Weight, st.Step+1
		note := fmt.Sprintf("canary weight %d → %d (step %d/%d): %s", st.Weight, next.Weight, t.Step, len(w.Spec.Steps), d.Message)
		t.Events = []Event{{Reason: reason.StepAdvanced, Action: "Advance", Note: note}}
	case analysis.Pause:
		if st.Phase == v1alpha1.PhasePaused {
			t.Kind = Hold // already paused: nothing changes, nothing is recorded
			return t
		}
		t.Kind, t.Phase, t.PausedReason = Pause, v1alpha1.PhasePaused, d.Reason
		ev := reason.Paused
		switch d.Reason {
		case reason.ExternalWeightChange:
			ev = reason.ExternalWeightChange
			// Hold what the other party wrote; sluice neither fights nor forgets it.
			if ws := w.Routes.CanaryWeights; len(ws) == 1 {
				t.Adopt, t.Weight = true, ws[0]
			}
		case reason.Paused:
			t.PausedReason = reason.OperatorPause
		}
		t.Events = []Event{{Warning: true, Reason: ev, Action: "Pause",
			Note: fmt.Sprintf("rollout of %q paused at weight %d: %s", w.Canary, t.Weight, d.Message)}}
	case analysis.Hold:
		t.Kind, t.Record = Hold, true
		if d.Reason == reason.AwaitingApproval && st.Phase == v1alpha1.PhaseProgressing {
			t.Kind, t.Phase, t.Record = AwaitApproval, v1alpha1.PhaseAwaitingApproval, false
			t.Events = []Event{{Reason: reason.AwaitingApproval, Action: "AwaitApproval",
				Note: fmt.Sprintf("rollout of %q waits for approval at weight %d: %s; approve with %s: %s", w.Canary, st.Weight, d.Message, spec.AnnApprove, w.Canary)}}
		}
	}
	return t
}
