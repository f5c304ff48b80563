package analysis

import (
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/window"
)

func TestLiveness(t *testing.T) {
	tests := map[string]struct {
		edit       func(*Input)
		wantAction Action
		wantReason string
	}{
		"silent canary trips": {
			edit: func(in *Input) {
				in.Weight, in.Step = 5, 1
				in.Canary = stats(in.Now, 0, 0)
				in.Canary.LastRequest = in.Now.Add(-31 * time.Second)
			},
			wantAction: Rollback, wantReason: reason.Silent,
		},
		"silent for exactly the timeout holds": {
			edit: func(in *Input) {
				in.Weight, in.Step = 5, 1
				in.Canary = stats(in.Now, 0, 0)
				in.Canary.LastRequest = in.Now.Add(-30 * time.Second)
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"never any request in a step older than the timeout trips": {
			edit: func(in *Input) {
				in.Weight, in.Step = 5, 1
				in.Canary = stats(in.Now, 0, 0)
			},
			wantAction: Rollback, wantReason: reason.Silent,
		},
		"stable too quiet to expect canary requests": {
			// 300 stable requests at 5% → 15.8 expected < MinRequests 20.
			edit: func(in *Input) {
				in.Weight, in.Step = 5, 1
				in.Canary, in.Stable = stats(in.Now, 0, 0), stats(in.Now, 300, 0)
				in.StepCanaryRequests = 100
			},
			wantAction: Advance, wantReason: reason.StepComplete,
		},
		"silence with failing canary pods is left to unobservable": {
			edit: func(in *Input) {
				in.Weight, in.Step = 5, 1
				in.Canary = stats(in.Now, 0, 0)
				in.Canary.FailedPods = 2
			},
			wantAction: Hold, wantReason: reason.NoData,
		},
		"unobservable canary pauses": {
			edit: func(in *Input) {
				in.Canary = window.Stats{LastData: in.Now.Add(-31 * time.Second), FailedPods: 2}
			},
			wantAction: Pause, wantReason: reason.Unobservable,
		},
		"unobservable canary rolls back when the policy says so": {
			edit: func(in *Input) {
				in.Canary = window.Stats{LastData: in.Now.Add(-31 * time.Second), FailedPods: 2}
				in.Thresholds.OnUnobservable = FailRollback
			},
			wantAction: Rollback, wantReason: reason.Unobservable,
		},
		"never observed in an old step": {
			edit:       func(in *Input) { in.Canary = window.Stats{FailedPods: 1} },
			wantAction: Pause, wantReason: reason.Unobservable,
		},
		"unobservable for exactly the timeout holds": {
			edit: func(in *Input) {
				in.Canary = window.Stats{LastData: in.Now.Add(-30 * time.Second), FailedPods: 2}
			},
			wantAction: Hold, wantReason: reason.NoData,
		},
		"unobservable in the paused phase": {
			edit: func(in *Input) {
				in.Phase = PhasePaused
				in.Canary = window.Stats{LastData: in.Now.Add(-time.Minute)}
			},
			wantAction: Pause, wantReason: reason.Unobservable,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			tc.edit(&in)
			assertDecision(t, Decide(in), tc.wantAction, tc.wantReason, "")
		})
	}
}
