package cli

import (
	"fmt"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Exit codes of `kubectl sluice wait`, so that CI can tell failure from timeout.
const (
	ExitPromoted   = 0 // the awaited canary was promoted (or already serves alone as stable)
	ExitRolledBack = 1 // it was rolled back: guard trip, abort, or superseded by another canary
	ExitTimeout    = 2 // --timeout passed before the rollout ended
	ExitInvalid    = 3 // the Service's annotations, policy or routes are invalid (phase Invalid)
	ExitPaused     = 4 // the rollout is paused (only with --fail-on-pause)
	ExitError      = 5 // anything else: bad arguments, API unreachable, Service not found or not opted in
)

// verdict is what one TrafficShift state means to a wait.
type verdict struct {
	done bool
	code int
	why  string
}

// awaited is what a wait waits for.
type awaited struct {
	canary      string
	failOnPause bool
}

// judge decides whether st ends the wait. st is nil while the TrafficShift does not
// exist. current says st is known to describe the Service as it is now (it was written
// after the wait began); a status that may predate the release being awaited never ends
// the wait unless it names the awaited canary.
func (a awaited) judge(st *sluicev1alpha1.TrafficShiftStatus, current bool) verdict {
	if st == nil {
		return verdict{}
	}
	if st.Canary == a.canary {
		switch st.Phase {
		case sluicev1alpha1.PhasePromoted:
			return verdict{true, ExitPromoted, fmt.Sprintf("canary %q promoted%s", a.canary, decisionSuffix(st.LastDecision))}
		case sluicev1alpha1.PhaseRolledBack:
			return verdict{true, ExitRolledBack, fmt.Sprintf("canary %q rolled back%s", a.canary, decisionSuffix(st.LastDecision))}
		case sluicev1alpha1.PhaseInvalid:
			return verdict{true, ExitInvalid, "invalid" + decisionSuffix(st.LastDecision)}
		case sluicev1alpha1.PhasePaused:
			if a.failOnPause {
				return verdict{true, ExitPaused, fmt.Sprintf("rollout of %q paused (%s)%s", a.canary, st.PausedReason, decisionSuffix(st.LastDecision))}
			}
		case sluicev1alpha1.PhaseAwaitingApproval:
			if a.failOnPause {
				return verdict{true, ExitPaused, fmt.Sprintf("rollout of %q awaits approval at weight %d (kubectl sluice resume approves it)%s", a.canary, st.Weight, decisionSuffix(st.LastDecision))}
			}
		case sluicev1alpha1.PhaseIdle:
			// Superseded: the rollout ended when the annotation moved to another subset.
			if current && len(st.History) > 0 && st.History[0].Canary == a.canary {
				return recordVerdict(st.History[0])
			}
		}
		return verdict{}
	}
	if st.Stable == a.canary && (st.Phase == sluicev1alpha1.PhasePromoted || st.Phase == sluicev1alpha1.PhaseIdle) {
		return verdict{true, ExitPromoted, fmt.Sprintf("%q is the stable subset and serves alone", a.canary)}
	}
	if st.Phase == sluicev1alpha1.PhaseInvalid && current {
		return verdict{true, ExitInvalid, "invalid" + decisionSuffix(st.LastDecision)}
	}
	return verdict{}
}

// recordVerdict turns a finished rollout's record into a verdict.
func recordVerdict(r sluicev1alpha1.RolloutRecord) verdict {
	why := fmt.Sprintf("rollout of %q ended %s", r.Canary, r.Result)
	if r.Reason != "" {
		why += ": " + r.Reason
	}
	if r.Message != "" {
		why += ": " + r.Message
	}
	switch r.Result {
	case sluicev1alpha1.PhasePromoted:
		return verdict{true, ExitPromoted, why}
	case sluicev1alpha1.PhaseRolledBack:
		return verdict{true, ExitRolledBack, why}
	default:
		return verdict{true, ExitError, why}
	}
}

// decisionSuffix renders ": Reason: message" for a decision, or "".
func decisionSuffix(d *sluicev1alpha1.Decision) string {
	if d == nil || (d.Reason == "" && d.Message == "") {
		return ""
	}
	if d.Message == "" {
		return ": " + d.Reason
	}
	if d.Reason == "" {
		return ": " + d.Message
	}
	return ": " + d.Reason + ": " + d.Message
}
