// Package schedule does the step arithmetic of a rollout: which weight a step has, what
// comes next, and whether a step's dwell and request minimum are met.
package schedule

import (
	"fmt"
	"time"
)

// Step is one stage of a rollout.
type Step struct {
	// Weight is the canary weight in percent, 1–100.
	Weight int32
	// Dwell is the minimum time at this weight before advancing.
	Dwell time.Duration
	// MinRequests is the number of canary requests the step must see before advancing.
	MinRequests int64
	// Approval holds the rollout at this weight after the dwell until a person approves.
	Approval bool
}

// Schedule is an ordered list of steps ending at 100.
type Schedule []Step

// Default is the built-in schedule: 5, 25, 50, 100 with the given dwell and minimum.
func Default(dwell time.Duration, minRequests int64) Schedule {
	return Schedule{
		{Weight: 5, Dwell: dwell, MinRequests: minRequests},
		{Weight: 25, Dwell: dwell, MinRequests: minRequests},
		{Weight: 50, Dwell: dwell, MinRequests: minRequests},
		{Weight: 100, Dwell: dwell, MinRequests: minRequests},
	}
}

// Validate reports the first problem with s: empty, weights outside 1–100, not strictly
// increasing, not ending at 100, or negative dwell/minimum.
func (s Schedule) Validate() error {
	if len(s) == 0 {
		return fmt.Errorf("no steps")
	}
	for i, st := range s {
		if st.Weight < 1 || st.Weight > 100 {
			return fmt.Errorf("step %d: weight %d outside 1–100", i+1, st.Weight)
		}
		if i > 0 && st.Weight <= s[i-1].Weight {
			return fmt.Errorf("step %d: weight %d not above step %d's %d", i+1, st.Weight, i, s[i-1].Weight)
		}
		if st.Dwell < 0 {
			return fmt.Errorf("step %d: negative dwell %s", i+1, st.Dwell)
		}
		if st.MinRequests < 0 {
			return fmt.Errorf("step %d: negative minimum requests %d", i+1, st.MinRequests)
		}
	}
	if last := s[len(s)-1].Weight; last != 100 {
		return fmt.Errorf("last step's weight is %d, must be 100", last)
	}
	return nil
}

// At returns the 1-based step n, and false when n is out of range.
func (s Schedule) At(n int32) (Step, bool) {
	if n < 1 || int(n) > len(s) {
		return Step{}, false
	}
	return s[n-1], true
}

// IsLast reports whether n is the final step.
func (s Schedule) IsLast(n int32) bool { return int(n) == len(s) }

// StepFor returns the 1-based index of the step whose weight is w, or for a weight between
// steps the last step below it (0 when w is below the first step). It lets a restarted
// controller resume without moving the weight.
func (s Schedule) StepFor(w int32) int32 {
	var n int32
	for i, st := range s {
		if st.Weight <= w {
			n = int32(i + 1)
		}
	}
	return n
}

// DwellMet reports whether a step started at start has been held long enough at now
// and has seen at least its minimum canary requests.
func (st Step) DwellMet(elapsed time.Duration, canaryRequests int64) bool {
	return elapsed >= st.Dwell && canaryRequests >= st.MinRequests
}
