package analysis

import (
	"fmt"

	"github.com/sluicedev/sluice/pkg/reason"
)

func externalWeightCheck(in Input) (Decision, bool) {
	if !in.ExternalWeightChange {
		return Decision{}, false
	}
	return Decision{Action: Pause, Reason: reason.ExternalWeightChange,
		Message: fmt.Sprintf("the route weights were changed by someone else (canary weight %d%%): pausing instead of overwriting", in.Weight)}, true
}

func promoteCheck(in Input) (Decision, bool) {
	if !in.Commands.Promote {
		return Decision{}, false
	}
	return Decision{Action: Promote, Reason: reason.PromoteCommand, Message: fmt.Sprintf("promoted by operator command at weight %d%%", in.Weight)}, true
}

// pausedCheck pauses a progressing rollout on the pause command and holds a paused one.
// Resuming is the controller's move: it sets the phase back to Progressing (when the pause
// command is gone, or on a resume), and only then does the step judgement run again.
func pausedCheck(in Input) (Decision, bool) {
	switch {
	case in.Phase == PhaseAwaitingApproval:
		return Decision{Action: Hold, Reason: reason.AwaitingApproval,
			Message: fmt.Sprintf("step %d (%d%%) waits for approval (sluice.dev/approve); the guard keeps running", in.Step, in.Weight)}, true
	case in.Phase == PhasePaused:
		msg := fmt.Sprintf("paused at weight %d%%; the guard keeps running", in.Weight)
		if in.Commands.Pause {
			msg = fmt.Sprintf("paused by operator command at weight %d%%; the guard keeps running", in.Weight)
		}
		return Decision{Action: Hold, Reason: reason.Paused, Message: msg}, true
	case in.Commands.Pause:
		return Decision{Action: Pause, Reason: reason.Paused, Message: fmt.Sprintf("paused by operator command at weight %d%%", in.Weight)}, true
	}
	return Decision{}, false
}
