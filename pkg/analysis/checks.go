package analysis

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

// CheckOp says which side of a check's threshold fails.
type CheckOp string

// Check ops.
const (
	// OpMax fails above the threshold.
	OpMax CheckOp = "max"
	// OpMin fails below it.
	OpMin CheckOp = "min"
)

// Compare says what a check's threshold applies to.
type Compare string

// Comparisons.
const (
	// CompareNone: the canary's result.
	CompareNone Compare = "none"
	// CompareRatio: the canary's result ÷ stable's.
	CompareRatio Compare = "ratio"
	// CompareDifference: the canary's result − stable's.
	CompareDifference Compare = "difference"
)

// Check is a custom check's judgement: the query itself is the sampler's business.
type Check struct {
	Name         string
	Op           CheckOp
	Threshold    float64
	Compare      Compare
	Interval     time.Duration
	FailureLimit int
}

// CheckEval is one evaluation of a check: the canary's result and, when it compares,
// stable's; NaN is no result. Query is the canary's query as run; Err why it failed.
type CheckEval struct {
	At             time.Time
	Canary, Stable float64
	Query          string
	Err            string
}

// Value is the number the threshold applies to, and whether there is one: an error, an
// empty result, NaN, ±Inf or a ratio over a stable of 0 is no data.
func (e CheckEval) Value(c Compare) (float64, bool) {
	if e.Err != "" || e.At.IsZero() {
		return math.NaN(), false
	}
	v := e.Canary
	switch c {
	case CompareRatio:
		if e.Stable == 0 {
			return math.NaN(), false
		}
		v = e.Canary / e.Stable
	case CompareDifference:
		v = e.Canary - e.Stable
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return v, false
	}
	return v, true
}

// Fails reports whether value v fails the check.
func (c Check) Fails(v float64) bool {
	if c.Op == OpMin {
		return v < c.Threshold
	}
	return v > c.Threshold
}

// CheckState is what the sampler has seen of one check in a rollout: its latest
// evaluations with data (newest last, up to FailureLimit of them), its latest evaluation
// of all and when it last had data.
type CheckState struct {
	Check      Check
	Recent     []CheckEval
	Latest     CheckEval
	LastDataAt time.Time
}

// customCheck trips on a check whose last FailureLimit results with data all fail.
// Results without data neither count nor break the streak: no data is hold, never pass
// and never fail.
func customCheck(in Input) (Decision, bool) {
	for _, cs := range in.Checks {
		limit := max(cs.Check.FailureLimit, 1)
		if len(cs.Recent) < limit {
			continue
		}
		streak := cs.Recent[len(cs.Recent)-limit:]
		failing := true
		for _, e := range streak {
			v, ok := e.Value(cs.Check.Compare)
			failing = failing && ok && cs.Check.Fails(v)
		}
		if failing {
			return Decision{Action: failureAction(in.Thresholds.OnFailure), Reason: reason.CheckFailed,
				Message: checkMessage(cs.Check, streak[len(streak)-1], limit)}, true
		}
	}
	return Decision{}, false
}

// checkMessage tells the result that failed, against what, and the query that gave it.
func checkMessage(c Check, e CheckEval, n int) string {
	v, _ := e.Value(c.Compare)
	side := "above"
	if c.Op == OpMin {
		side = "below"
	}
	var what string
	switch c.Compare {
	case CompareRatio:
		what = fmt.Sprintf("canary %g ÷ stable %g = %g", e.Canary, e.Stable, v)
	case CompareDifference:
		what = fmt.Sprintf("canary %g − stable %g = %g", e.Canary, e.Stable, v)
	default:
		what = fmt.Sprintf("canary %g", v)
	}
	return fmt.Sprintf("check %s: %s, %s the %s of %g, in %d consecutive results (query: %s)", c.Name, what, side, c.Op, c.Threshold, n, e.Query)
}

// checkNoData explains why a check has no current data, or returns "".
func checkNoData(in Input, cs CheckState) string {
	l := cs.Latest
	name := "check " + cs.Check.Name
	switch {
	case l.At.IsZero():
		return name + " has not run yet"
	case in.Now.Sub(l.At) > StaleIntervals*cs.Check.Interval:
		return fmt.Sprintf("%s last ran %s ago", name, dur(in.Now.Sub(l.At)))
	case l.Err != "":
		return name + " has no data: " + l.Err
	}
	if _, ok := l.Value(cs.Check.Compare); !ok {
		return fmt.Sprintf("%s has no data: canary %g, stable %g (query: %s)", name, l.Canary, l.Stable, l.Query)
	}
	return ""
}

// signalsNoData explains why a signal beside the stats (resources, checks) has no
// current data, or returns "": the step does not pass without it.
func signalsNoData(in Input) string {
	var why []string
	if s := resourcesNoData(in); s != "" {
		why = append(why, s)
	}
	for _, cs := range in.Checks {
		if s := checkNoData(in, cs); s != "" {
			why = append(why, s)
		}
	}
	return strings.Join(why, "; ")
}

// signalsUnobservableCheck applies OnUnobservable when a signal beside the stats has had
// no data for longer than UnobservableTimeout (since the rollout started, when it never
// had any).
func signalsUnobservableCheck(in Input) (Decision, bool) {
	th := in.Thresholds
	if th.UnobservableTimeout <= 0 {
		return Decision{}, false
	}
	since := func(last time.Time) (time.Duration, bool) {
		if last.IsZero() {
			last = in.RolloutStartedAt
		}
		return in.Now.Sub(last), !last.IsZero() && in.Now.Sub(last) > th.UnobservableTimeout
	}
	var msg string
	if th.Resources.On() && resourcesNoData(in) != "" {
		if gap, over := since(in.Resources.LastDataAt); over {
			msg = fmt.Sprintf("%s, none for %s; limit %s", resourcesNoData(in), dur(gap), dur(th.UnobservableTimeout))
		}
	}
	for _, cs := range in.Checks {
		why := checkNoData(in, cs)
		if gap, over := since(cs.LastDataAt); msg == "" && why != "" && over {
			msg = fmt.Sprintf("%s, none for %s; limit %s", why, dur(gap), dur(th.UnobservableTimeout))
		}
	}
	if msg == "" {
		return Decision{}, false
	}
	action := Pause
	if th.OnUnobservable == FailRollback {
		action = Rollback
	}
	return Decision{Action: action, Reason: reason.Unobservable, Message: msg}, true
}
