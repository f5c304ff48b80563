package spec

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
)

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestDefaultPolicy(t *testing.T) {
	p := DefaultPolicy()
	var weights []int32
	for _, st := range p.Steps {
		weights = append(weights, st.Weight)
	}
	if !reflect.DeepEqual(weights, []int32{5, 25, 50, 100}) {
		t.Errorf("weights = %v, want 5,25,50,100", weights)
	}
	if p.DefaultDwell.Duration != 30*time.Second || p.Interval.Duration != 500*time.Millisecond || *p.HistoryLimit != 10 {
		t.Errorf("defaultDwell %v, interval %v, historyLimit %d; want 30s, 500ms, 10", p.DefaultDwell, p.Interval, *p.HistoryLimit)
	}
	if p.Guard == nil || p.Guard.MaxErrorRate == nil || p.Guard.Window == nil || p.Guard.MinRequests == nil ||
		p.Guard.Confidence == nil || p.Guard.MaxErrorRateIncrease == nil || p.SilenceTimeout == nil ||
		p.UnobservableTimeout == nil || p.OnFailure == "" || p.OnUnobservable == "" {
		t.Errorf("DefaultPolicy leaves a field unset: %+v guard %+v", p, p.Guard)
	}
	// The default policy, given explicitly, is the same as no policy, and its guard is
	// exactly analysis.DefaultThresholds.
	explicit, err := Parse(nil, &p)
	if err != nil {
		t.Fatalf("Parse(default policy): %v", err)
	}
	implicit, err := Parse(nil, nil)
	if err != nil {
		t.Fatalf("Parse(nil policy): %v", err)
	}
	if !reflect.DeepEqual(explicit, implicit) {
		t.Errorf("explicit default policy gives %+v, nil policy %+v", explicit, implicit)
	}
	if implicit.Guard != analysis.DefaultThresholds() {
		t.Errorf("Guard = %+v, want analysis.DefaultThresholds %+v", implicit.Guard, analysis.DefaultThresholds())
	}
	// DefaultPolicy returns a fresh value each time.
	p.Steps[0].Weight = 7
	*p.Guard.MaxErrorRate = 0.9
	if q := DefaultPolicy(); q.Steps[0].Weight != 5 || *q.Guard.MaxErrorRate != 0.01 {
		t.Errorf("DefaultPolicy shares state between calls")
	}
}

func TestParsePolicyMerge(t *testing.T) {
	const s30 = 30 * time.Second
	tests := map[string]struct {
		ann    map[string]string
		policy *v1alpha1.ShiftPolicySpec
		want   func(*Spec)
	}{
		"empty policy is the default": {
			policy: &v1alpha1.ShiftPolicySpec{},
			want:   func(*Spec) {},
		},
		"empty step list is the default": {
			policy: &v1alpha1.ShiftPolicySpec{Steps: []v1alpha1.Step{}},
			want:   func(*Spec) {},
		},
		"defaultDwell applies to default steps": {
			policy: &v1alpha1.ShiftPolicySpec{DefaultDwell: dur(time.Minute)},
			want:   func(s *Spec) { s.Steps = schedule.Default(time.Minute, 20) },
		},
		"policy steps: own dwell and minimum win, others from defaultDwell and guard": {
			policy: &v1alpha1.ShiftPolicySpec{
				Steps: []v1alpha1.Step{
					{Weight: 10, Dwell: dur(2 * time.Minute), MinRequests: ptr(int32(5))},
					{Weight: 100},
				},
				Guard: &v1alpha1.Guard{MinRequests: ptr(int32(7))},
			},
			want: func(s *Spec) {
				s.Guard.MinRequests = 7
				s.Steps = schedule.Schedule{{Weight: 10, Dwell: 2 * time.Minute, MinRequests: 5}, {Weight: 100, Dwell: s30, MinRequests: 7}}
			},
		},
		"policy step with zero minRequests keeps it": {
			policy: &v1alpha1.ShiftPolicySpec{Steps: []v1alpha1.Step{{Weight: 100, MinRequests: ptr(int32(0))}}},
			want:   func(s *Spec) { s.Steps = schedule.Schedule{{Weight: 100, Dwell: s30, MinRequests: 0}} },
		},
		"step-duration and min-requests fill only what policy steps leave unset": {
			ann: map[string]string{AnnStepDuration: "10s", AnnMinRequests: "3"},
			policy: &v1alpha1.ShiftPolicySpec{
				Steps:        []v1alpha1.Step{{Weight: 20, Dwell: dur(time.Hour), MinRequests: ptr(int32(99))}, {Weight: 100}},
				DefaultDwell: dur(time.Minute),
			},
			want: func(s *Spec) {
				s.Guard.MinRequests = 3
				s.Steps = schedule.Schedule{{Weight: 20, Dwell: time.Hour, MinRequests: 99}, {Weight: 100, Dwell: 10 * time.Second, MinRequests: 3}}
			},
		},
		"annotation steps replace policy steps and take policy's defaultDwell": {
			ann: map[string]string{AnnSteps: "30,100:5s"},
			policy: &v1alpha1.ShiftPolicySpec{
				Steps:        []v1alpha1.Step{{Weight: 1, Dwell: dur(time.Hour)}, {Weight: 100}},
				DefaultDwell: dur(45 * time.Second),
				Guard:        &v1alpha1.Guard{MinRequests: ptr(int32(11))},
			},
			want: func(s *Spec) {
				s.Guard.MinRequests = 11
				s.Steps = schedule.Schedule{{Weight: 30, Dwell: 45 * time.Second, MinRequests: 11}, {Weight: 100, Dwell: 5 * time.Second, MinRequests: 11}}
			},
		},
		"partial guard keeps other defaults": {
			policy: &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{MaxErrorRate: ptr(0.05), MaxLatencyP99: dur(time.Second), LatencyFactor: ptr(1.5)}},
			want: func(s *Spec) {
				s.Guard.MaxErrorRate, s.Guard.MaxLatencyP99, s.Guard.LatencyFactor = 0.05, time.Second, 1.5
			},
		},
		"full guard": {
			policy: &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{
				MaxErrorRate: ptr(0.02), MaxErrorRateIncrease: ptr(0.01), MaxLatencyP99: dur(300 * time.Millisecond),
				LatencyFactor: ptr(2.0), Window: dur(5 * time.Second), MinRequests: ptr(int32(50)), Confidence: ptr(0.99),
			}},
			want: func(s *Spec) {
				s.Guard.MaxErrorRate, s.Guard.MaxErrorRateIncrease, s.Guard.MaxLatencyP99 = 0.02, 0.01, 300*time.Millisecond
				s.Guard.LatencyFactor, s.Guard.Window, s.Guard.MinRequests, s.Guard.Confidence = 2, 5*time.Second, 50, 0.99
				s.Steps = schedule.Default(s30, 50)
			},
		},
		"policy p95 limit beside the p99 one": {
			policy: &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{
				MaxLatencyP99: dur(time.Second), MaxLatency: &v1alpha1.LatencyLimit{Quantile: 0.95, Limit: metav1.Duration{Duration: 300 * time.Millisecond}},
			}},
			want: func(s *Spec) {
				s.Guard.MaxLatencyP99, s.Guard.MaxLatency, s.Guard.LatencyQuantile = time.Second, 300*time.Millisecond, 0.95
			},
		},
		"the max-latency annotation replaces the policy's quantile and limit": {
			ann: map[string]string{AnnMaxLatency: "p90=120ms"},
			policy: &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{
				MaxLatencyP99: dur(time.Second), LatencyFactor: ptr(1.5),
				MaxLatency: &v1alpha1.LatencyLimit{Quantile: 0.95, Limit: metav1.Duration{Duration: 300 * time.Millisecond}},
			}},
			want: func(s *Spec) {
				s.Guard.MaxLatencyP99, s.Guard.LatencyFactor = time.Second, 1.5
				s.Guard.MaxLatency, s.Guard.LatencyQuantile = 120*time.Millisecond, 0.9
			},
		},
		"annotations override the policy's guard": {
			ann:    map[string]string{AnnMaxErrorRate: "3%", AnnMaxLatencyP99: "2s"},
			policy: &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{MaxErrorRate: ptr(0.05), MaxLatencyP99: dur(time.Second)}},
			want: func(s *Spec) {
				s.Guard.MaxErrorRate, s.Guard.MaxLatencyP99 = 0.03, 2*time.Second
			},
		},
		"alerts pause": {
			policy: &v1alpha1.ShiftPolicySpec{OnAlert: v1alpha1.AlertPause},
			want:   func(s *Spec) { s.OnAlert = v1alpha1.AlertPause },
		},
		"the annotation overrides the policy's onAlert": {
			ann:    map[string]string{AnnOnAlert: "Ignore"},
			policy: &v1alpha1.ShiftPolicySpec{OnAlert: v1alpha1.AlertPause},
			want:   func(s *Spec) { s.OnAlert = v1alpha1.AlertIgnore },
		},
		"failure handling, timeouts, interval and history": {
			policy: &v1alpha1.ShiftPolicySpec{
				OnFailure: v1alpha1.FailurePause, OnUnobservable: v1alpha1.FailureRollback,
				SilenceTimeout: dur(time.Minute), UnobservableTimeout: dur(2 * time.Minute),
				Interval: dur(50 * time.Millisecond), HistoryLimit: ptr(int32(0)),
			},
			want: func(s *Spec) {
				s.Guard.OnFailure, s.Guard.OnUnobservable = analysis.FailPause, analysis.FailRollback
				s.Guard.SilenceTimeout, s.Guard.UnobservableTimeout = time.Minute, 2*time.Minute
				s.Interval, s.HistoryLimit = 50*time.Millisecond, 0
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.ann, tc.policy)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := baseSpec()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestParseInvalidPolicy(t *testing.T) {
	tests := map[string]struct {
		ann    map[string]string
		policy v1alpha1.ShiftPolicySpec
		want   []Problem
	}{
		"decreasing steps": {
			policy: v1alpha1.ShiftPolicySpec{Steps: []v1alpha1.Step{{Weight: 50}, {Weight: 25}, {Weight: 100}}},
			want:   []Problem{{"policy.spec.steps", "50,25,100", "strictly increasing weights in 1..100 ending at 100 (step 2: weight 25 not above step 1's 50)"}},
		},
		"not ending at 100": {
			policy: v1alpha1.ShiftPolicySpec{Steps: []v1alpha1.Step{{Weight: 5}, {Weight: 50}}},
			want:   []Problem{{"policy.spec.steps", "5,50", "strictly increasing weights in 1..100 ending at 100 (last step's weight is 50, must be 100)"}},
		},
		"step fields": {
			policy: v1alpha1.ShiftPolicySpec{Steps: []v1alpha1.Step{
				{Weight: 0}, {Weight: 50, Dwell: dur(-time.Second)}, {Weight: 101, MinRequests: ptr(int32(-1))},
			}},
			want: []Problem{
				{"policy.spec.steps[0].weight", "0", "an integer in 1..100"},
				{"policy.spec.steps[1].dwell", "-1s", "a duration of at least 0 like 1m"},
				{"policy.spec.steps[2].weight", "101", "an integer in 1..100"},
				{"policy.spec.steps[2].minRequests", "-1", "an integer of at least 0"},
			},
		},
		"broken policy steps are reported even when the annotation replaces them": {
			ann:    map[string]string{AnnSteps: "50,100"},
			policy: v1alpha1.ShiftPolicySpec{Steps: []v1alpha1.Step{{Weight: 200}}},
			want:   []Problem{{"policy.spec.steps[0].weight", "200", "an integer in 1..100"}},
		},
		"durations": {
			policy: v1alpha1.ShiftPolicySpec{
				DefaultDwell: dur(0), Interval: dur(10 * time.Millisecond),
				SilenceTimeout: dur(-time.Second), UnobservableTimeout: dur(0),
			},
			want: []Problem{
				{"policy.spec.defaultDwell", "0s", "a duration greater than 0 like 30s"},
				{"policy.spec.interval", "10ms", "a duration of at least 50ms like 500ms"},
				{"policy.spec.silenceTimeout", "-1s", "a duration greater than 0 like 30s"},
				{"policy.spec.unobservableTimeout", "0s", "a duration greater than 0 like 30s"},
			},
		},
		"actions and history": {
			policy: v1alpha1.ShiftPolicySpec{OnFailure: "Explode", OnUnobservable: "rollback", HistoryLimit: ptr(int32(51)), OnAlert: "rollback"},
			want: []Problem{
				{"policy.spec.onFailure", "Explode", `"Rollback" or "Pause"`},
				{"policy.spec.onUnobservable", "rollback", `"Rollback" or "Pause"`},
				{"policy.spec.historyLimit", "51", "an integer in 0..50"},
				{"policy.spec.onAlert", "rollback", `"Rollback", "Pause" or "Ignore"`},
			},
		},
		"unknown stats source": {
			policy: v1alpha1.ShiftPolicySpec{StatsSource: "Graphite"},
			want:   []Problem{{"policy.spec.statsSource", "Graphite", "Envoy or Prometheus"}},
		},
		"negative history": {
			policy: v1alpha1.ShiftPolicySpec{HistoryLimit: ptr(int32(-1))},
			want:   []Problem{{"policy.spec.historyLimit", "-1", "an integer in 0..50"}},
		},
		"guard": {
			policy: v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{
				MaxErrorRate: ptr(1.5), MaxErrorRateIncrease: ptr(-0.1), LatencyFactor: ptr(0.5), Confidence: ptr(1.0),
				MaxLatencyP99: dur(0), Window: dur(-time.Second), MinRequests: ptr(int32(0)),
			}},
			want: []Problem{
				{"policy.spec.guard.maxErrorRate", "1.5", "a number in [0,1] like 0.01"},
				{"policy.spec.guard.maxErrorRateIncrease", "-0.1", "a number in [0,1] like 0.005"},
				{"policy.spec.guard.latencyFactor", "0.5", "a number of at least 1 like 1.5"},
				{"policy.spec.guard.confidence", "1", "a number strictly between 0.5 and 1 like 0.999"},
				{"policy.spec.guard.maxLatencyP99", "0s", "a duration greater than 0 like 500ms"},
				{"policy.spec.guard.window", "-1s", "a duration greater than 0 like 10s"},
				{"policy.spec.guard.minRequests", "0", "an integer of at least 1 like 20"},
			},
		},
		"maxLatency out of range": {
			policy: v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{MaxLatency: &v1alpha1.LatencyLimit{Quantile: 0.9999, Limit: metav1.Duration{}}}},
			want: []Problem{
				{"policy.spec.guard.maxLatency.quantile", "0.9999", "a number in [0.5,0.999] like 0.95 for p95"},
				{"policy.spec.guard.maxLatency.limit", "0s", "a duration greater than 0 like 300ms"},
			},
		},
		"maxLatency quantile as a percentage": {
			policy: v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{MaxLatency: &v1alpha1.LatencyLimit{Quantile: 95, Limit: metav1.Duration{Duration: time.Second}}}},
			want:   []Problem{{"policy.spec.guard.maxLatency.quantile", "95", "a number in [0.5,0.999] like 0.95 for p95"}},
		},
		"guard non-finite": {
			policy: v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{MaxErrorRate: ptr(math.NaN()), LatencyFactor: ptr(math.Inf(1)), Confidence: ptr(0.5)}},
			want: []Problem{
				{"policy.spec.guard.maxErrorRate", "NaN", "a number in [0,1] like 0.01"},
				{"policy.spec.guard.latencyFactor", "+Inf", "a number of at least 1 like 1.5"},
				{"policy.spec.guard.confidence", "0.5", "a number strictly between 0.5 and 1 like 0.999"},
			},
		},
		"annotation problems come before policy problems": {
			ann:    map[string]string{AnnCanary: "V2"},
			policy: v1alpha1.ShiftPolicySpec{Interval: dur(0)},
			want: []Problem{
				{AnnCanary, "V2", expectSubset},
				{"policy.spec.interval", "0s", "a duration of at least 50ms like 500ms"},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.ann, &tc.policy)
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Parse error = %v, want *InvalidError", err)
			}
			if !reflect.DeepEqual(inv.Problems, tc.want) {
				t.Errorf("Problems =\n%#v\nwant\n%#v", inv.Problems, tc.want)
			}
		})
	}
}
