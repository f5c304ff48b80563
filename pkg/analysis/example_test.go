package analysis_test

import (
	"fmt"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/window"
)

// One decision: a canary at the 25 % step whose 10 s window has 40 failures in 400
// requests (10 %) while stable has 3 in 1,200 (0.25 %). Everything Decide reads is in the
// Input; it reads no clock and no network.
func ExampleDecide() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	subset := func(requests, failures uint64) window.Stats {
		return window.Stats{Requests: requests, Rq2xx: requests - failures, Rq5xx: failures,
			Span: 10 * time.Second, Pods: 2, LastData: now, LastRequest: now}
	}
	in := analysis.Input{
		Now:           now,
		Phase:         analysis.PhaseProgressing,
		Steps:         schedule.Default(30*time.Second, 20),
		Step:          2,
		Weight:        25,
		StepStartedAt: now.Add(-12 * time.Second),
		Canary:        subset(400, 40),
		Stable:        subset(1200, 3),
		Thresholds:    analysis.DefaultThresholds(),
	}
	d := analysis.Decide(in)
	fmt.Println(d.Action, d.Reason, "by the", d.Check, "check")

	// The same canary with failures at stable's rate only holds: the step's dwell goes on.
	in.Canary = subset(400, 1)
	d = analysis.Decide(in)
	fmt.Println(d.Action, d.Reason)
	// Output:
	// Rollback ErrorRate by the errorRate check
	// Hold Dwell
}
