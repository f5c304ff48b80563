package spec

import (
	"fmt"
	"math"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Built-in policy values that analysis.DefaultThresholds does not cover.
const (
	defaultDwell        = 30 * time.Second
	defaultInterval     = 500 * time.Millisecond
	defaultHistoryLimit = 10
	defaultReadyTimeout = 5 * time.Minute
	minInterval         = 50 * time.Millisecond
	maxHistoryLimit     = 50
)

// defaultWeights are the built-in step weights.
var defaultWeights = []int32{5, 25, 50, 100}

// DefaultPolicy returns the built-in policy used without a ShiftPolicy: steps 5, 25, 50,
// 100, dwell 30s, interval 500ms, history 10 and analysis.DefaultThresholds. Its steps
// carry only weights, so their dwell and minimum requests follow defaultDwell,
// guard.minRequests and the per-Service overrides. Thresholds that are disabled by
// default (maxLatencyP99, latencyFactor) are left nil, as a ShiftPolicy would.
func DefaultPolicy() v1alpha1.ShiftPolicySpec {
	t := analysis.DefaultThresholds()
	steps := make([]v1alpha1.Step, len(defaultWeights))
	for i, w := range defaultWeights {
		steps[i] = v1alpha1.Step{Weight: w}
	}
	return v1alpha1.ShiftPolicySpec{
		Steps:        steps,
		DefaultDwell: &metav1.Duration{Duration: defaultDwell},
		Interval:     &metav1.Duration{Duration: defaultInterval},
		Guard: &v1alpha1.Guard{
			MaxErrorRate:         ptr(t.MaxErrorRate),
			MaxErrorRateIncrease: ptr(t.MaxErrorRateIncrease),
			Window:               &metav1.Duration{Duration: t.Window},
			MinRequests:          ptr(int32(t.MinRequests)),
			Confidence:           ptr(t.Confidence),
			PodHealth:            &v1alpha1.PodHealth{MaxNotReadyFraction: ptr(t.PodHealth.MaxNotReadyFraction), NotReadyFor: &metav1.Duration{Duration: t.PodHealth.NotReadyFor}},
		},
		OnFailure:           v1alpha1.FailureAction(t.OnFailure),
		SilenceTimeout:      &metav1.Duration{Duration: t.SilenceTimeout},
		UnobservableTimeout: &metav1.Duration{Duration: t.UnobservableTimeout},
		OnUnobservable:      v1alpha1.FailureAction(t.OnUnobservable),
		OnAlert:             v1alpha1.AlertRollback,
		MinReadyPods:        ptr(int32(1)),
		ReadyTimeout:        &metav1.Duration{Duration: defaultReadyTimeout},
		OnNotReady:          v1alpha1.FailurePause,
		HistoryLimit:        ptr(int32(defaultHistoryLimit)),
	}
}

func ptr[T any](v T) *T { return &v }

// resolvedPolicy is a policy with every unset field filled from the built-in default.
type resolvedPolicy struct {
	Steps        []v1alpha1.Step // policy steps, or the default weights
	DefaultDwell time.Duration
	Interval     time.Duration
	Guard        analysis.Thresholds
	HistoryLimit int
	StatsSource  v1alpha1.StatsSource
	OnAlert      v1alpha1.AlertAction
	Readiness    Readiness
	Notify       []v1alpha1.NotifySink
	// ResourceSource is where guard.resources reads usage; Checks the policy's checks.
	ResourceSource v1alpha1.ResourceSource
	Checks         []CheckSpec
}

// resolvePolicy validates p field by field and fills what it leaves unset.
func resolvePolicy(p v1alpha1.ShiftPolicySpec, ps *problems) resolvedPolicy {
	r := resolvedPolicy{
		Steps:          DefaultPolicy().Steps,
		DefaultDwell:   defaultDwell,
		Interval:       defaultInterval,
		Guard:          analysis.DefaultThresholds(),
		HistoryLimit:   defaultHistoryLimit,
		ResourceSource: v1alpha1.ResourceSourceMetricsAPI,
		StatsSource:    v1alpha1.StatsSourceEnvoy,
		OnAlert:        v1alpha1.AlertRollback,
		Readiness:      Readiness{MinReadyPods: 1, Timeout: defaultReadyTimeout, OnTimeout: analysis.FailPause},
	}
	resolveReadiness(p, &r.Readiness, ps)
	r.Notify = p.Notify
	switch p.StatsSource {
	case "":
	case v1alpha1.StatsSourceEnvoy, v1alpha1.StatsSourcePrometheus:
		r.StatsSource = p.StatsSource
	default:
		ps.add("policy.spec.statsSource", string(p.StatsSource), "Envoy or Prometheus")
	}
	if len(p.Steps) > 0 {
		r.Steps = p.Steps
		checkPolicySteps(p.Steps, ps)
	}
	positiveDuration(p.DefaultDwell, "policy.spec.defaultDwell", "a duration greater than 0 like 30s", 1, &r.DefaultDwell, ps)
	positiveDuration(p.Interval, "policy.spec.interval", "a duration of at least 50ms like 500ms", minInterval, &r.Interval, ps)
	positiveDuration(p.SilenceTimeout, "policy.spec.silenceTimeout", "a duration greater than 0 like 30s", 1, &r.Guard.SilenceTimeout, ps)
	positiveDuration(p.UnobservableTimeout, "policy.spec.unobservableTimeout", "a duration greater than 0 like 30s", 1, &r.Guard.UnobservableTimeout, ps)
	failureAction(p.OnFailure, "policy.spec.onFailure", &r.Guard.OnFailure, ps)
	failureAction(p.OnUnobservable, "policy.spec.onUnobservable", &r.Guard.OnUnobservable, ps)
	if h := p.HistoryLimit; h != nil {
		if *h < 0 || *h > maxHistoryLimit {
			ps.add("policy.spec.historyLimit", strconv.Itoa(int(*h)), "an integer in 0..50")
		} else {
			r.HistoryLimit = int(*h)
		}
	}
	if p.OnAlert != "" {
		if a, ok := parseAlertAction(string(p.OnAlert)); ok {
			r.OnAlert = a
		} else {
			ps.add("policy.spec.onAlert", string(p.OnAlert), `"Rollback", "Pause" or "Ignore"`)
		}
	}
	if g := p.Guard; g != nil {
		resolveGuard(*g, &r.Guard, ps)
		if res := g.Resources; res != nil {
			resolveResources(*res, &r.Guard.Resources, &r.ResourceSource, ps)
		}
	}
	r.Checks = resolveChecks(p.Checks, ps)
	return r
}

// Readiness is the health gate before the first step: how many canary pods must be
// Ready, how long to wait for them, and what a timeout does.
type Readiness struct {
	MinReadyPods int32
	Timeout      time.Duration
	OnTimeout    analysis.OnFailure
}

func resolveReadiness(p v1alpha1.ShiftPolicySpec, r *Readiness, ps *problems) {
	if m := p.MinReadyPods; m != nil {
		if *m < 1 {
			ps.add("policy.spec.minReadyPods", strconv.Itoa(int(*m)), "an integer of at least 1")
		} else {
			r.MinReadyPods = *m
		}
	}
	positiveDuration(p.ReadyTimeout, "policy.spec.readyTimeout", "a duration greater than 0 like 5m", 1, &r.Timeout, ps)
	failureAction(p.OnNotReady, "policy.spec.onNotReady", &r.OnTimeout, ps)
}

func resolvePodHealth(h v1alpha1.PodHealth, lim *analysis.PodHealthLimits, ps *problems) {
	const path = "policy.spec.guard.podHealth."
	lim.Disabled = h.Disabled
	floatIn(h.MaxNotReadyFraction, path+"maxNotReadyFraction", "a number in [0,1] like 0.5", 0, 1, false, &lim.MaxNotReadyFraction, ps)
	positiveDuration(h.NotReadyFor, path+"notReadyFor", "a duration greater than 0 like 30s", 1, &lim.NotReadyFor, ps)
}

func resolveGuard(g v1alpha1.Guard, t *analysis.Thresholds, ps *problems) {
	if h := g.PodHealth; h != nil {
		resolvePodHealth(*h, &t.PodHealth, ps)
	}
	const path = "policy.spec.guard."
	floatIn(g.MaxErrorRate, path+"maxErrorRate", "a number in [0,1] like 0.01", 0, 1, false, &t.MaxErrorRate, ps)
	floatIn(g.MaxErrorRateIncrease, path+"maxErrorRateIncrease", "a number in [0,1] like 0.005", 0, 1, false, &t.MaxErrorRateIncrease, ps)
	floatIn(g.LatencyFactor, path+"latencyFactor", "a number of at least 1 like 1.5", 1, math.MaxFloat64, false, &t.LatencyFactor, ps)
	floatIn(g.Confidence, path+"confidence", "a number strictly between 0.5 and 1 like 0.999", 0.5, 1, true, &t.Confidence, ps)
	positiveDuration(g.MaxLatencyP99, path+"maxLatencyP99", "a duration greater than 0 like 500ms", 1, &t.MaxLatencyP99, ps)
	positiveDuration(g.Window, path+"window", "a duration greater than 0 like 10s", 1, &t.Window, ps)
	if l := g.MaxLatency; l != nil {
		var q float64
		var limit time.Duration
		floatIn(&l.Quantile, path+"maxLatency.quantile", "a number in [0.5,0.999] like 0.95 for p95",
			analysis.MinLatencyQuantile, analysis.MaxLatencyQuantile, false, &q, ps)
		positiveDuration(&l.Limit, path+"maxLatency.limit", "a duration greater than 0 like 300ms", 1, &limit, ps)
		if q > 0 && limit > 0 {
			t.MaxLatency, t.LatencyQuantile = limit, q
		}
	}
	if m := g.MinRequests; m != nil {
		if *m < 1 {
			ps.add(path+"minRequests", strconv.Itoa(int(*m)), "an integer of at least 1 like 20")
		} else {
			t.MinRequests = int64(*m)
		}
	}
}

// checkPolicySteps reports per-step field problems; ordering is left to schedule.Validate.
func checkPolicySteps(steps []v1alpha1.Step, ps *problems) {
	for i, st := range steps {
		path := fmt.Sprintf("policy.spec.steps[%d].", i)
		if st.Weight < 1 || st.Weight > 100 {
			ps.add(path+"weight", strconv.Itoa(int(st.Weight)), "an integer in 1..100")
		}
		if st.Dwell != nil && st.Dwell.Duration < 0 {
			ps.add(path+"dwell", st.Dwell.Duration.String(), "a duration of at least 0 like 1m")
		}
		if st.MinRequests != nil && *st.MinRequests < 0 {
			ps.add(path+"minRequests", strconv.Itoa(int(*st.MinRequests)), "an integer of at least 0")
		}
	}
}

// positiveDuration copies d into dst when set and at least lowest, else records a problem.
func positiveDuration(d *metav1.Duration, field, expected string, lowest time.Duration, dst *time.Duration, ps *problems) {
	if d == nil {
		return
	}
	if d.Duration < lowest {
		ps.add(field, d.Duration.String(), expected)
		return
	}
	*dst = d.Duration
}

// floatIn copies f into dst when set and within [lo,hi] (or (lo,hi) when exclusive).
func floatIn(f *float64, field, expected string, lo, hi float64, exclusive bool, dst *float64, ps *problems) {
	if f == nil {
		return
	}
	v := *f
	bad := math.IsNaN(v) || math.IsInf(v, 0) || v < lo || v > hi
	if exclusive && (v == lo || v == hi) {
		bad = true
	}
	if bad {
		ps.add(field, strconv.FormatFloat(v, 'g', -1, 64), expected)
		return
	}
	*dst = v
}

// parseAlertAction reads an alert action, exactly as the API spells it.
func parseAlertAction(v string) (v1alpha1.AlertAction, bool) {
	switch a := v1alpha1.AlertAction(v); a {
	case v1alpha1.AlertRollback, v1alpha1.AlertPause, v1alpha1.AlertIgnore:
		return a, true
	}
	return "", false
}

func failureAction(a v1alpha1.FailureAction, field string, dst *analysis.OnFailure, ps *problems) {
	switch a {
	case "":
	case v1alpha1.FailureRollback, v1alpha1.FailurePause:
		*dst = analysis.OnFailure(a)
	default:
		ps.add(field, string(a), `"Rollback" or "Pause"`)
	}
}
