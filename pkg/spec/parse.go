package spec

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
)

// Spec is the validated rollout spec of one Service.
type Spec struct {
	// Enabled is true when sluice.dev/enabled is "true".
	Enabled bool
	// Canary is the subset that should serve; "" when not set.
	Canary string
	// Stable is the subset serving before the first rollout; "" when not set.
	Stable string
	// VirtualServices are the VirtualServices to shift; nil means discover them.
	VirtualServices []string
	// PolicyName is the ShiftPolicy the Service uses (DefaultPolicyName when unset).
	PolicyName string
	// Steps is the merged step schedule; it passes schedule.Schedule.Validate.
	Steps schedule.Schedule
	// Interval is the tick of an active rollout.
	Interval time.Duration
	// Guard holds the merged guard thresholds.
	Guard analysis.Thresholds
	// StatsFrom selects caller pods whose stats to read; nil means the destination side.
	StatsFrom *StatsFrom
	// Paused is true when sluice.dev/paused is "true".
	Paused bool
	// Promote is the subset sluice.dev/promote names; "" if none.
	Promote string
	// Abort is the subset sluice.dev/abort names; "" if none.
	Abort string
	// Retry is the subset sluice.dev/retry names; "" if none.
	Retry string
	// RetryToken is the raw sluice.dev/retry value; a retry is acted on once per token.
	RetryToken string
	// HistoryLimit is how many past rollouts the TrafficShift keeps.
	HistoryLimit int
	// StatsSource is where stats come from: Envoy (sidecars or callers) or Prometheus.
	StatsSource v1alpha1.StatsSource
	// OnAlert is what a firing Alertmanager alert does to a rollout carrying traffic.
	OnAlert v1alpha1.AlertAction
	// Release is who released which canary (the sluice.dev/release-* annotations).
	Release Release
	// Approve is the approval sluice.dev/approve gives: its canary, and the weight up to
	// which approval gates are passed (100 when the value names no weight).
	Approve Approval
	// Readiness is the health gate before the first step.
	Readiness Readiness
	// Notify are the policy's notification sinks.
	Notify []v1alpha1.NotifySink
	// ResourceSource is where guard.resources reads the pods' usage.
	ResourceSource v1alpha1.ResourceSource
	// Checks are the custom checks the Service runs: the policy's, or those
	// sluice.dev/checks names.
	Checks []CheckSpec
}

// Approval passes the approval gates of Canary's steps up to weight UpTo.
type Approval struct {
	Canary string
	UpTo   int32
}

// Approves reports whether the approval passes canary's gate at weight w.
func (a Approval) Approves(canary string, w int32) bool {
	return a.Canary != "" && a.Canary == canary && w <= a.UpTo
}

// Release is the release context CI writes beside the canary. It labels the rollout of
// Canary only (or, without sluice.dev/release-canary, of whichever canary the
// annotations are read with), so a stale value never labels the next release.
type Release struct {
	Canary, Commit, Pipeline, URL, By string
}

// For returns the release context that applies to canary: empty when it names another.
func (r Release) For(canary string) Release {
	if r.Canary != "" && r.Canary != canary {
		return Release{}
	}
	r.Canary = canary
	return r
}

// Parse validates every sluice.dev/* annotation and the policy (nil = DefaultPolicy) and
// merges them: unset policy fields fall back to DefaultPolicy, annotations override the
// policy. It reports all problems at once as *InvalidError and then returns a zero Spec.
// Annotations without the sluice.dev/ prefix are ignored.
func Parse(ann map[string]string, policy *v1alpha1.ShiftPolicySpec) (Spec, error) {
	var annProblems, policyProblems problems
	p := DefaultPolicy()
	if policy != nil {
		p = *policy
	}
	pol := resolvePolicy(p, &policyProblems)
	s := Spec{
		PolicyName:     DefaultPolicyName,
		Interval:       pol.Interval,
		Guard:          pol.Guard,
		HistoryLimit:   pol.HistoryLimit,
		StatsSource:    pol.StatsSource,
		OnAlert:        pol.OnAlert,
		Readiness:      pol.Readiness,
		Notify:         pol.Notify,
		ResourceSource: pol.ResourceSource,
		Checks:         pol.Checks,
	}
	r := reader{ann: ann, ps: &annProblems}
	r.bool(AnnEnabled, &s.Enabled)
	r.subset(AnnCanary, &s.Canary)
	r.subset(AnnStable, &s.Stable)
	r.with(AnnVirtualService, func(v string) string {
		names, exp := parseVirtualServices(v)
		s.VirtualServices = names
		return exp
	})
	r.with(AnnPolicy, func(v string) (exp string) {
		s.PolicyName, exp = parsePolicyName(v)
		return exp
	})
	var annSteps []annotationStep
	r.with(AnnSteps, func(v string) (exp string) {
		annSteps, exp = parseSteps(v)
		return exp
	})
	dwell := pol.DefaultDwell
	r.with(AnnStepDuration, func(v string) string {
		d, exp := parsePositiveDuration(v)
		if exp == "" {
			dwell = d
		}
		return exp
	})
	r.with(AnnMaxErrorRate, func(v string) string {
		f, exp := parseRate(v)
		if exp == "" {
			s.Guard.MaxErrorRate = f
		}
		return exp
	})
	r.with(AnnMaxLatencyP99, func(v string) string {
		d, exp := parsePositiveDuration(v)
		if exp == "" {
			s.Guard.MaxLatencyP99 = d
		}
		return exp
	})
	r.with(AnnMaxLatency, func(v string) string {
		q, d, exp := parseQuantileLimit(v)
		if exp == "" {
			s.Guard.MaxLatency, s.Guard.LatencyQuantile = d, q
		}
		return exp
	})
	r.with(AnnMinRequests, func(v string) string {
		n, exp := parseCount(v)
		if exp == "" {
			s.Guard.MinRequests = n
		}
		return exp
	})
	r.with(AnnChecks, func(v string) (exp string) {
		s.Checks, exp = parseCheckNames(v, pol.Checks)
		return exp
	})
	r.with(AnnStatsFrom, func(v string) (exp string) {
		s.StatsFrom, exp = parseStatsFrom(v)
		return exp
	})
	r.bool(AnnPaused, &s.Paused)
	r.subset(AnnPromote, &s.Promote)
	r.subset(AnnAbort, &s.Abort)
	r.with(AnnRetry, func(v string) (exp string) {
		if s.Retry, exp = parseRetry(v); exp == "" {
			s.RetryToken = v
		}
		return exp
	})
	r.with(AnnApprove, func(v string) (exp string) {
		s.Approve, exp = parseApprove(v)
		return exp
	})
	r.with(AnnOnAlert, func(v string) string {
		a, ok := parseAlertAction(v)
		if ok {
			s.OnAlert = a
			return ""
		}
		return `"Rollback", "Pause" or "Ignore"`
	})
	r.subset(AnnReleaseCanary, &s.Release.Canary)
	r.text(AnnReleaseCommit, &s.Release.Commit, parseCommit)
	r.text(AnnReleasePipeline, &s.Release.Pipeline, parseLabelText)
	r.text(AnnReleaseURL, &s.Release.URL, parseReleaseURL)
	r.text(AnnReleaseBy, &s.Release.By, parseLabelText)
	for _, k := range unknownKeys(ann) {
		expected := "one of " + strings.Join(keys, ", ")
		if p, ok := percentileKey(k); ok {
			expected = fmt.Sprintf("a known sluice annotation; did you mean %s: \"%s=%s\"?", AnnMaxLatency, p, ann[k])
		} else if near := closestKey(k); near != "" {
			expected = "a known sluice annotation; did you mean " + near + "?"
		}
		annProblems.add(k, ann[k], expected)
	}

	all := append(annProblems, policyProblems...)
	if annSteps != nil {
		s.Steps = annotationSchedule(annSteps, dwell, s.Guard.MinRequests)
		all = checkMerged(all, AnnSteps, ann[AnnSteps], s.Steps)
	} else {
		s.Steps = policySchedule(pol.Steps, dwell, s.Guard.MinRequests)
		all = checkMerged(all, "policy.spec.steps", weightsText(s.Steps), s.Steps)
	}
	if len(all) > 0 {
		return Spec{}, &InvalidError{Problems: all}
	}
	return s, nil
}

// reader validates present annotations one by one, recording problems.
type reader struct {
	ann map[string]string
	ps  *problems
}

// with calls parse on the annotation's value when present; parse returns the
// expectation the value failed, or "".
func (r reader) with(key string, parse func(v string) string) {
	v, ok := r.ann[key]
	if !ok {
		return
	}
	if exp := parse(v); exp != "" {
		r.ps.add(key, v, exp)
	}
}

func (r reader) bool(key string, dst *bool) {
	r.with(key, func(v string) (exp string) {
		*dst, exp = parseBool(v)
		return exp
	})
}

// text stores a value parse accepts.
func (r reader) text(key string, dst *string, parse func(string) (string, string)) {
	r.with(key, func(v string) (exp string) {
		*dst, exp = parse(v)
		return exp
	})
}

func (r reader) subset(key string, dst *string) {
	r.with(key, func(v string) (exp string) {
		*dst, exp = parseSubset(v)
		return exp
	})
}

// annotationSchedule builds the steps of sluice.dev/steps: an item's own dwell, else dwell.
func annotationSchedule(steps []annotationStep, dwell time.Duration, minRequests int64) schedule.Schedule {
	out := make(schedule.Schedule, len(steps))
	for i, st := range steps {
		out[i] = schedule.Step{Weight: st.Weight, Dwell: dwell, MinRequests: minRequests, Approval: st.Approval}
		if st.Dwell != nil {
			out[i].Dwell = *st.Dwell
		}
	}
	return out
}

// policySchedule builds the policy's steps: a step's own dwell and minimum win.
func policySchedule(steps []v1alpha1.Step, dwell time.Duration, minRequests int64) schedule.Schedule {
	out := make(schedule.Schedule, len(steps))
	for i, st := range steps {
		out[i] = schedule.Step{Weight: st.Weight, Dwell: dwell, MinRequests: minRequests, Approval: st.Approval}
		if st.Dwell != nil {
			out[i].Dwell = st.Dwell.Duration
		}
		if st.MinRequests != nil {
			out[i].MinRequests = int64(*st.MinRequests)
		}
	}
	return out
}

// checkMerged validates the merged schedule unless its source already has a problem.
func checkMerged(all problems, field, value string, s schedule.Schedule) problems {
	if all.has(field) {
		return all
	}
	if msg := checkSchedule(s); msg != "" {
		all.add(field, value, "strictly increasing weights in 1..100 ending at 100 ("+msg+")")
	}
	return all
}
