package main

import (
	"math"
	"time"
)

// rule is a Prometheus-driven analysis as Flagger and Argo Rollouts run it: every
// Interval it evaluates the canary's success rate (and p99, when MaxP99 > 0) over the
// last Window of 1 s scrapes; a result that is NaN (no calls in the window) or beyond a
// threshold is a failed check, and FailureLimit failed checks roll back.
type rule struct {
	Name         string
	Interval     time.Duration
	Window       time.Duration
	MinSuccess   float64 // success rate a check needs (0.99)
	MaxP99       float64 // ms; 0 disables the latency metric
	FailureLimit int     // failed checks that roll back
}

// flaggerRule is Flagger at its fastest: interval 10 s (its minimum), a 1 m query
// window, request-success-rate ≥ 99 % and request-duration p99, threshold 2.
func flaggerRule(maxP99 float64) rule {
	return rule{Name: "flagger", Interval: 10 * time.Second, Window: time.Minute, MinSuccess: 0.99, MaxP99: maxP99, FailureLimit: 2}
}

// argoRule is an Argo Rollouts background analysis: interval 1 s, a 10 s query window,
// success ≥ 0.99 (and p99), failureLimit 0 (the first failure aborts).
func argoRule(maxP99 float64) rule {
	return rule{Name: "argo", Interval: time.Second, Window: 10 * time.Second, MinSuccess: 0.99, MaxP99: maxP99, FailureLimit: 1}
}

// check is one evaluation of a rule.
type check struct {
	At      time.Time
	Success float64 // NaN when the window holds no canary call
	P99     float64 // ms; NaN without calls
	Failed  bool
	NaN     bool // failed because the window had no data
}

// verdict is what a rule would have done over a series.
type verdict struct {
	Checks []check
	// Decided is when the FailureLimit-th failed check happened; zero if never.
	Decided time.Time
}

// evaluate runs r over ss with checks at first, first+Interval, … up to end.
func (r rule) evaluate(ss []sample, first, end time.Time) verdict {
	var v verdict
	failed := 0
	for at := first; !at.After(end); at = at.Add(r.Interval) {
		c := r.checkAt(ss, at)
		v.Checks = append(v.Checks, c)
		if c.Failed {
			failed++
			if failed == r.FailureLimit && v.Decided.IsZero() {
				v.Decided = at
				return v
			}
		}
	}
	return v
}

// checkAt evaluates the rule at t over the scrapes in (t−Window, t], as a range query
// does: the increase is last − first of those samples; fewer than two samples or no calls
// give NaN.
func (r rule) checkAt(ss []sample, t time.Time) check {
	c := check{At: t, Success: math.NaN(), P99: math.NaN()}
	var in []sample
	for _, s := range ss {
		if s.At.After(t.Add(-r.Window)) && !s.At.After(t) {
			in = append(in, s)
		}
	}
	if len(in) >= 2 {
		d := sub(in[len(in)-1].Canary, in[0].Canary)
		if d.Requests > 0 {
			c.Success = 1 - float64(d.Rq5xx)/float64(d.Requests)
		}
		if d.Latency.Count > 0 {
			c.P99 = d.Latency.Quantile(0.99)
		}
	}
	switch {
	case math.IsNaN(c.Success) || (r.MaxP99 > 0 && math.IsNaN(c.P99)):
		c.Failed, c.NaN = true, true
	case c.Success < r.MinSuccess:
		c.Failed = true
	case r.MaxP99 > 0 && c.P99 > r.MaxP99:
		c.Failed = true
	}
	return c
}
