package analysis

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

// evals are evaluations of values {canary, stable} a second apart ending at now; a NaN
// canary is a result without data.
func evals(now time.Time, vals ...[2]float64) []CheckEval {
	out := make([]CheckEval, len(vals))
	for i, v := range vals {
		out[i] = CheckEval{At: now.Add(time.Duration(i-len(vals)+1) * time.Second), Canary: v[0], Stable: v[1], Query: `sum(queue_depth{subset="v2"})`}
	}
	return out
}

// checkState is what the sampler keeps from all: the last limit evaluations with data,
// the latest of all and when data was last had.
func checkState(c Check, all []CheckEval) CheckState {
	cs := CheckState{Check: c}
	for _, e := range all {
		cs.Latest = e
		if _, ok := e.Value(c.Compare); ok {
			cs.Recent = append(cs.Recent, e)
			cs.LastDataAt = e.At
		}
	}
	if n := max(c.FailureLimit, 1); len(cs.Recent) > n {
		cs.Recent = cs.Recent[len(cs.Recent)-n:]
	}
	return cs
}

func TestCustomCheck(t *testing.T) {
	nan := math.NaN()
	maxCheck := Check{Name: "queue", Op: OpMax, Threshold: 100, Compare: CompareNone, Interval: time.Second, FailureLimit: 3}
	with := func(edit func(*Check)) Check { c := maxCheck; edit(&c); return c }
	tests := map[string]struct {
		check      Check
		evals      [][2]float64
		wantReason string
		wantInMsg  []string
	}{
		"passing":                 {check: maxCheck, evals: [][2]float64{{10, 0}, {20, 0}, {30, 0}}, wantReason: reason.StepComplete},
		"at the threshold passes": {check: maxCheck, evals: [][2]float64{{100, 0}, {100, 0}, {100, 0}}, wantReason: reason.StepComplete},
		"3 failures trip": {check: maxCheck, evals: [][2]float64{{101, 0}, {150, 0}, {120, 0}}, wantReason: reason.CheckFailed,
			wantInMsg: []string{"check queue", "canary 120", "above the max of 100", "3 consecutive", `queue_depth{subset="v2"}`}},
		"2 failures hold":                     {check: maxCheck, evals: [][2]float64{{10, 0}, {150, 0}, {120, 0}}, wantReason: reason.StepComplete},
		"a pass breaks the streak":            {check: maxCheck, evals: [][2]float64{{150, 0}, {150, 0}, {50, 0}, {150, 0}}, wantReason: reason.StepComplete},
		"no data neither counts nor breaks":   {check: maxCheck, evals: [][2]float64{{150, 0}, {150, 0}, {nan, 0}, {150, 0}}, wantReason: reason.CheckFailed},
		"failures then no data: hold":         {check: maxCheck, evals: [][2]float64{{150, 0}, {150, 0}, {nan, 0}}, wantReason: reason.NoData, wantInMsg: []string{"check queue has no data"}},
		"min fails below":                     {check: with(func(c *Check) { c.Op, c.FailureLimit = OpMin, 1 }), evals: [][2]float64{{99, 0}}, wantReason: reason.CheckFailed, wantInMsg: []string{"below the min of 100"}},
		"min passes above":                    {check: with(func(c *Check) { c.Op, c.FailureLimit = OpMin, 1 }), evals: [][2]float64{{101, 0}}, wantReason: reason.StepComplete},
		"failure limit 0 means 1":             {check: with(func(c *Check) { c.FailureLimit = 0 }), evals: [][2]float64{{101, 0}}, wantReason: reason.CheckFailed},
		"+Inf is no data":                     {check: with(func(c *Check) { c.FailureLimit = 1 }), evals: [][2]float64{{math.Inf(1), 0}}, wantReason: reason.NoData},
		"ratio over stable":                   {check: with(func(c *Check) { c.Compare, c.Threshold, c.FailureLimit = CompareRatio, 2, 1 }), evals: [][2]float64{{30, 10}}, wantReason: reason.CheckFailed, wantInMsg: []string{"canary 30 ÷ stable 10 = 3"}},
		"ratio within":                        {check: with(func(c *Check) { c.Compare, c.Threshold, c.FailureLimit = CompareRatio, 2, 1 }), evals: [][2]float64{{20, 10}}, wantReason: reason.StepComplete},
		"ratio over a stable of 0 is no data": {check: with(func(c *Check) { c.Compare, c.Threshold, c.FailureLimit = CompareRatio, 2, 1 }), evals: [][2]float64{{20, 0}}, wantReason: reason.NoData},
		"stable without data is no data":      {check: with(func(c *Check) { c.Compare, c.Threshold, c.FailureLimit = CompareDifference, 2, 1 }), evals: [][2]float64{{20, nan}}, wantReason: reason.NoData},
		"difference":                          {check: with(func(c *Check) { c.Compare, c.Threshold, c.FailureLimit = CompareDifference, 5, 1 }), evals: [][2]float64{{16, 10}}, wantReason: reason.CheckFailed, wantInMsg: []string{"canary 16 − stable 10 = 6"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			in.RolloutStartedAt = in.Now.Add(-10 * time.Second)
			in.Checks = []CheckState{checkState(tc.check, evals(in.Now, tc.evals...))}
			d := Decide(in)
			if d.Reason != tc.wantReason {
				t.Fatalf("decision %+v, want reason %s", d, tc.wantReason)
			}
			if d.Reason == reason.CheckFailed && (d.Action != Rollback || d.Check != "checks") {
				t.Fatalf("decision %+v, want a Rollback by the checks", d)
			}
			for _, frag := range tc.wantInMsg {
				if !strings.Contains(d.Message, frag) {
					t.Errorf("message %q lacks %q", d.Message, frag)
				}
			}
		})
	}
}

// A check without data holds the step, and never trips; past the unobservable timeout
// the policy's onUnobservable applies (Pause by default, Rollback when set).
func TestCheckNoData(t *testing.T) {
	c := Check{Name: "kpi", Op: OpMin, Threshold: 1, Compare: CompareNone, Interval: time.Second, FailureLimit: 1}
	tests := map[string]struct {
		state      func(now time.Time) CheckState
		started    time.Duration // before now
		onUnobs    OnFailure
		wantAction Action
		wantReason string
		wantInMsg  string
	}{
		"not run yet": {state: func(time.Time) CheckState { return CheckState{Check: c} }, started: 5 * time.Second,
			wantAction: Hold, wantReason: reason.NoData, wantInMsg: "check kpi has not run yet"},
		"query error": {state: func(now time.Time) CheckState {
			return CheckState{Check: c, Latest: CheckEval{At: now, Canary: math.NaN(), Err: "bad_data: parse error"}}
		}, started: 5 * time.Second, wantAction: Hold, wantReason: reason.NoData, wantInMsg: "bad_data: parse error"},
		"stale": {state: func(now time.Time) CheckState {
			return checkState(c, evals(now.Add(-10*time.Second), [2]float64{5, 0}))
		}, started: 20 * time.Second, wantAction: Hold, wantReason: reason.NoData, wantInMsg: "last ran 10s ago"},
		"empty past the timeout pauses": {state: func(now time.Time) CheckState {
			return checkState(c, evals(now, [2]float64{math.NaN(), 0}))
		}, started: time.Minute, wantAction: Pause, wantReason: reason.Unobservable, wantInMsg: "none for 1m0s"},
		"empty past the timeout rolls back when the policy says so": {state: func(now time.Time) CheckState {
			return checkState(c, evals(now, [2]float64{math.NaN(), 0}))
		}, started: time.Minute, onUnobs: FailRollback, wantAction: Rollback, wantReason: reason.Unobservable},
		"data since the timeout holds": {state: func(now time.Time) CheckState {
			cs := checkState(c, evals(now, [2]float64{5, 0}, [2]float64{math.NaN(), 0}))
			return cs
		}, started: time.Minute, wantAction: Hold, wantReason: reason.NoData},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			in.RolloutStartedAt = in.Now.Add(-tc.started)
			if tc.onUnobs != "" {
				in.Thresholds.OnUnobservable = tc.onUnobs
			}
			in.Checks = []CheckState{tc.state(in.Now)}
			d := Decide(in)
			if d.Action != tc.wantAction || d.Reason != tc.wantReason || !strings.Contains(d.Message, tc.wantInMsg) {
				t.Fatalf("decision %+v, want %s %s with %q", d, tc.wantAction, tc.wantReason, tc.wantInMsg)
			}
		})
	}
}
