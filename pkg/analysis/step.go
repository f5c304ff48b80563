package analysis

import (
	"fmt"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

// stepCheck is the step judgement of a progressing rollout: advance (or, at the last step,
// promote) only after the step's dwell, with the step's minimum canary requests, and with
// fresh canary data; anything short of that holds. Low traffic makes a step take longer,
// it never passes it.
// dataPlaneCheck holds a step whose weight the data plane has not confirmed yet.
func dataPlaneCheck(in Input) (Decision, bool) {
	if in.Phase != PhaseProgressing || !in.DataPlanePending {
		return Decision{}, false
	}
	return Decision{Action: Hold, Reason: reason.AwaitingDataPlane,
		Message: fmt.Sprintf("waiting for the callers' proxies to apply canary weight %d; the step's dwell starts then", in.Weight)}, true
}

func stepCheck(in Input) (Decision, bool) {
	if in.Phase != PhaseProgressing {
		return Decision{}, false
	}
	if in.Step == 0 && len(in.Steps) > 0 {
		return Decision{Action: Advance, Reason: reason.Starting,
			Message: fmt.Sprintf("starting the rollout at step 1 (%d%%)", in.Steps[0].Weight)}, true
	}
	st, ok := in.Steps.At(in.Step)
	if !ok {
		return Decision{Action: Hold, Reason: reason.InvalidStep,
			Message: fmt.Sprintf("step %d is outside the schedule of %d steps", in.Step, len(in.Steps))}, true
	}
	where := fmt.Sprintf("step %d/%d (%d%%)", in.Step, len(in.Steps), st.Weight)
	elapsed := in.Now.Sub(in.StepStartedAt)
	if elapsed < st.Dwell {
		return Decision{Action: Hold, Reason: reason.Dwell,
			Message: fmt.Sprintf("%s: %s of %s dwell; %d/%d canary requests", where, dur(elapsed), dur(st.Dwell), in.StepCanaryRequests, st.MinRequests)}, true
	}
	if stale := noFreshData(in); stale != "" {
		return Decision{Action: Hold, Reason: reason.NoData, Message: where + ": " + stale + "; not advancing without data"}, true
	}
	if none := signalsNoData(in); none != "" {
		return Decision{Action: Hold, Reason: reason.NoData, Message: where + ": " + none + "; not advancing without data"}, true
	}
	if !st.DwellMet(elapsed, in.StepCanaryRequests) {
		return Decision{Action: Hold, Reason: reason.WaitingForRequests,
			Message: fmt.Sprintf("%s: dwell done, %d/%d canary requests", where, in.StepCanaryRequests, st.MinRequests)}, true
	}
	if st.Approval && in.Commands.ApprovedUpTo < st.Weight {
		return Decision{Action: Hold, Reason: reason.AwaitingApproval,
			Message: fmt.Sprintf("%s held %s with %d canary requests and no trip: waiting for approval (sluice.dev/approve)", where, dur(elapsed), in.StepCanaryRequests)}, true
	}
	if in.Steps.IsLast(in.Step) {
		return Decision{Action: Promote, Reason: reason.RolloutComplete,
			Message: fmt.Sprintf("%s held %s with %d canary requests and no trip: promoting", where, dur(elapsed), in.StepCanaryRequests)}, true
	}
	next, _ := in.Steps.At(in.Step + 1)
	return Decision{Action: Advance, Reason: reason.StepComplete,
		Message: fmt.Sprintf("%s held %s with %d canary requests and no trip: advancing to %d%%", where, dur(elapsed), in.StepCanaryRequests, next.Weight)}, true
}

// noFreshData explains why the canary's data is too old to pass a step on, or returns "".
// Fresh means read from at least one canary pod within the window length and no canary
// pod failing to be read now.
func noFreshData(in Input) string {
	c := in.Canary
	switch {
	case c.LastData.IsZero():
		return "no canary stats yet"
	case in.Now.Sub(c.LastData) > max(in.Thresholds.Window, 0):
		return fmt.Sprintf("canary stats last read %s ago", dur(in.Now.Sub(c.LastData)))
	case c.FailedPods > 0:
		return fmt.Sprintf("%d canary pods failed to be read", c.FailedPods)
	}
	return ""
}

// dur prints a duration rounded for people: 12.3s, 2m0s.
func dur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second || d <= -time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}
