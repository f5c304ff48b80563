package main

import (
	"math"
	"time"

	"github.com/sluicedev/sluice/e2e/meshlab"
)

// scenario is one kind of canary behaviour.
type scenario struct {
	Name    string
	Control bool // a healthy control: no fault, any rollback is false
	// beh makes the canary faulty (or, for a control, sets stable and canary alike).
	beh  func(healthy meshlab.Behaviour) meshlab.Behaviour
	idle bool // control with the caller at 0 calls/s
}

// ruleResult is what one baseline rule would have done in a run.
type ruleResult struct {
	// DecidedMs is from the fault (control: observation start) to the rule's rollback; nil
	// when it did not roll back within the observation (> 30 s after a fault).
	DecidedMs *float64 `json:"decidedMs"`
	// AppliedMs adds the run's measured VS write → client applied delay to DecidedMs.
	AppliedMs *float64    `json:"appliedMs"`
	PreFault  bool        `json:"preFault,omitempty"` // it rolled back before the fault
	Failed    int         `json:"failedChecks"`
	NaN       int         `json:"nanChecks"`
	Checks    []checkJSON `json:"checks"`
}

type checkJSON struct {
	AtMs    float64  `json:"atMs"` // since the rollout's annotation
	Success *float64 `json:"success"`
	P99     *float64 `json:"p99Ms"`
	Failed  bool     `json:"failed"`
}

// runRecord is one rollout.
type runRecord struct {
	Scenario string `json:"scenario"`
	Weight   int32  `json:"weight"` // the step the fault was aimed at
	Run      int    `json:"run"`
	// FaultWeight is the canary weight the client routed with when the fault started.
	FaultWeight  uint32  `json:"faultWeight"`
	FaultInDwell float64 `json:"faultInDwellMs"` // fault − the client applying the step
	FaultMs      float64 `json:"faultMs"`        // since the annotation
	Error        string  `json:"error,omitempty"`

	// sluice, ms from the fault (controls: RolledBack says whether it rolled back).
	RolledBack     bool     `json:"rolledBack"`
	Reason         string   `json:"reason,omitempty"`
	Message        string   `json:"message,omitempty"`
	ControllerMs   *float64 `json:"faultToControllerWriteMs,omitempty"` // status.dataPlane.writtenAt
	WrittenMs      *float64 `json:"faultToVSWrittenMs,omitempty"`       // vswatch event
	PushedMs       *float64 `json:"faultToPushAtCallerMs,omitempty"`
	AppliedMs      *float64 `json:"faultToClientAppliedMs,omitempty"`
	LastCanaryMs   *float64 `json:"faultToLastCanaryMs,omitempty"`
	WriteToApplied *float64 `json:"vsWrittenToClientAppliedMs,omitempty"`
	SluiceDrainMs  *float64 `json:"sluiceCanaryDrainedMs,omitempty"` // status.dataPlane.canaryDrainedAt − fault

	Baselines map[string]ruleResult `json:"baselines"`
	// Series are the scrapes (canary calls and 5xx per scrape interval), for the plot.
	Series []seriesPoint `json:"series"`
	// Steps are the VS writes of the canary weight since the annotation.
	Steps []stepPoint `json:"steps"`
	dur   time.Duration
}

type seriesPoint struct {
	AtMs     float64 `json:"atMs"`
	Calls    uint64  `json:"canaryCalls"`
	Errors   uint64  `json:"canary5xx"`
	Stable   uint64  `json:"stableCalls"`
	Extended bool    `json:"extended,omitempty"` // a scrape inferred after the canary left the route
}

type stepPoint struct {
	AtMs   float64 `json:"atMs"`
	Weight int32   `json:"weight"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func msp(d time.Duration) *float64 { v := ms(d); return &v }

func fptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// toRuleResult renders a verdict relative to the fault (ref) and the rollout start (t0).
func toRuleResult(v verdict, t0, ref time.Time, writeToApplied *float64) ruleResult {
	r := ruleResult{}
	for _, c := range v.Checks {
		r.Checks = append(r.Checks, checkJSON{AtMs: ms(c.At.Sub(t0)), Success: fptr(c.Success), P99: fptr(c.P99), Failed: c.Failed})
		if c.Failed {
			r.Failed++
		}
		if c.NaN {
			r.NaN++
		}
	}
	if !v.Decided.IsZero() {
		d := ms(v.Decided.Sub(ref))
		r.DecidedMs = &d
		r.PreFault = d < 0
		if writeToApplied != nil {
			a := d + *writeToApplied
			r.AppliedMs = &a
		}
	}
	return r
}

// toSeries turns cumulative scrapes into per-interval calls; points after realEnd are
// the inferred ones.
func toSeries(ss []sample, t0, realEnd time.Time) []seriesPoint {
	var out []seriesPoint
	for i := 1; i < len(ss); i++ {
		d, s := sub(ss[i].Canary, ss[i-1].Canary), sub(ss[i].Stable, ss[i-1].Stable)
		out = append(out, seriesPoint{AtMs: ms(ss[i].At.Sub(t0)), Calls: d.Requests, Errors: d.Rq5xx, Stable: s.Requests, Extended: ss[i].At.After(realEnd)})
	}
	return out
}
