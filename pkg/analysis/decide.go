package analysis

import (
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/window"
)

// Phases Decide distinguishes.
const (
	PhaseProgressing      = "Progressing"
	PhasePaused           = "Paused"
	PhaseAwaitingApproval = "AwaitingApproval"
)

// Commands are the operator commands, already filtered by the controller to this canary.
type Commands struct {
	Pause, Promote, Abort bool
	// ApprovedUpTo is the weight up to which approval gates are approved; 0 for none.
	ApprovedUpTo int32
}

// Input is everything one decision needs; Decide reads nothing else.
type Input struct {
	// Now is the controller's injected clock value (data, not a clock).
	Now time.Time
	// Phase is PhaseProgressing or PhasePaused.
	Phase    string
	Commands Commands
	// ExternalWeightChange reports that someone else changed the weights.
	ExternalWeightChange bool
	Steps                schedule.Schedule
	// Step is the current 1-based step (0: not started yet); Weight the canary weight now.
	Step   int32
	Weight int32
	// StepStartedAt is when the current step's weight was applied.
	StepStartedAt time.Time
	// StepCanaryRequests counts the canary requests since StepStartedAt.
	StepCanaryRequests int64
	// Canary, Stable are the subsets' sliding windows at Now.
	Canary, Stable window.Stats
	// Trailing are both subsets' trailing sub-windows at Now, one per TrailingSpans(
	// Thresholds.Window): {Span: d, Canary: canaryWindow.StatsSince(Now, d), Stable:
	// stableWindow.StatsSince(Now, d)}; optional. The guard tests them besides the full
	// window, so that healthy traffic earlier in the window cannot dilute a fault (see
	// trailing.go). Entries not shorter than the window are ignored.
	Trailing []Trailing
	// CanaryTick is the canary's latest tick increment (what window.Observe returned);
	// optional. Rechecks (recheck.go) read its fresh failures; and when Trailing is empty
	// the latest tick is the one sub-window tested, against stable's full window.
	CanaryTick window.Stats
	// StableBaseline is stable's latest window that had traffic (at least MinRequests),
	// kept by the controller; optional. The error-rate comparison uses it when Stable has
	// no requests (at weight 100 the stable gets none), so that a service whose stable
	// already failed above the absolute limit is not rolled back for matching it.
	StableBaseline window.Stats
	// DataPlanePending reports that the callers' proxies have not yet confirmed the
	// current step's weight; the step's dwell has not started, so it cannot complete.
	DataPlanePending bool
	// RolloutStartedAt is when the canary got traffic; CanaryPods and StablePods are the
	// subsets' pods as their status says (all of them, Ready or not); optional: without
	// canary pods the pod-health check holds.
	RolloutStartedAt       time.Time
	CanaryPods, StablePods []PodState
	// Resources are the latest samples of both subsets' memory and CPU (the sampler's,
	// read beside the tick); Checks the custom checks' latest results, one per check the
	// spec runs. Both optional: without them the checks that read them hold.
	Resources  ResourceState
	Checks     []CheckState
	Thresholds Thresholds
}

// Decision is what to do, why (Reason, a constant), the numbers behind it (Message), and
// which check decided (Check).
type Decision struct {
	Action  Action
	Reason  string
	Message string
	Check   string
	// Recheck asks the controller to look again after Interval/RecheckDivisor: the
	// latest tick brought canary failures while the canary is over a limit on too little
	// evidence to trip (recheck.go). Only set on Hold and Advance.
	Recheck bool
}

// check is one link of the chain: it decides (true) or passes to the next (false).
type check struct {
	name string
	fn   func(Input) (Decision, bool)
}

// chain is the decision order: operator abort first, then the guard (which runs in every
// phase), then what pauses or finishes the rollout, then the step judgement.
var chain = []check{
	{"abort", abortCheck},
	{"errorRate", errorRateCheck},
	{"latency", latencyCheck},
	{"podHealth", podHealthCheck},
	{"memory", memoryCheck},
	{"cpu", cpuCheck},
	{"checks", customCheck},
	{"silence", silenceCheck},
	{"unobservable", unobservableCheck},
	{"signalsUnobservable", signalsUnobservableCheck},
	{"externalWeightChange", externalWeightCheck},
	{"promoteCommand", promoteCheck},
	{"paused", pausedCheck},
	{"dataPlane", dataPlaneCheck},
	{"step", stepCheck},
}

// Decide runs the chain; the first check that decides wins, and the default is Hold.
func Decide(in Input) Decision {
	for _, c := range chain {
		if d, ok := c.fn(in); ok {
			d.Check = c.name
			d.Recheck = (d.Action == Hold || d.Action == Advance) && recheck(in)
			return d
		}
	}
	return Decision{Action: Hold, Reason: reason.NotProgressing, Message: "phase " + in.Phase + ": nothing to do", Check: "default", Recheck: recheck(in)}
}

// CheckNames lists the chain's checks in the order they run.
func CheckNames() []string {
	names := make([]string, len(chain))
	for i, c := range chain {
		names[i] = c.name
	}
	return names
}

func abortCheck(in Input) (Decision, bool) {
	if !in.Commands.Abort {
		return Decision{}, false
	}
	return Decision{Action: Rollback, Reason: reason.Aborted, Message: "aborted by operator command"}, true
}

// failureAction maps a policy's OnFailure to an Action; unset means Rollback.
func failureAction(f OnFailure) Action {
	if f == FailPause {
		return Pause
	}
	return Rollback
}
