package cluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// TestPolicyAdmission starts the real API server and checks that the ShiftPolicy schema
// and CEL rules reject bad policies with a message naming the field, and accept good ones.
func TestPolicyAdmission(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS not set (run via make test)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Stop() }()
	d := func(s string) *metav1.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return &metav1.Duration{Duration: v}
	}
	check := func(edit func(*sluicev1alpha1.Check)) sluicev1alpha1.Check {
		c := sluicev1alpha1.Check{Name: "queue", Query: `max(queue_depth{namespace="{{namespace}}",version="{{subset}}"})`, Op: sluicev1alpha1.CheckMax, Threshold: 100}
		edit(&c)
		return c
	}
	tests := map[string]struct {
		spec    sluicev1alpha1.ShiftPolicySpec
		wantErr string // substring; "" = accepted
	}{
		"default shape": {spec: sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 5}, {Weight: 50}, {Weight: 100}}}},
		"empty spec":    {spec: sluicev1alpha1.ShiftPolicySpec{}},
		"full": {spec: sluicev1alpha1.ShiftPolicySpec{
			Steps:    []sluicev1alpha1.Step{{Weight: 10, Dwell: d("1m"), MinRequests: ptr.To[int32](50)}, {Weight: 100}},
			Interval: d("500ms"), OnFailure: sluicev1alpha1.FailurePause,
			Guard: &sluicev1alpha1.Guard{MaxErrorRate: ptr.To(0.02), Confidence: ptr.To(0.999), Window: d("10s"), MaxLatencyP99: d("300ms")},
		}},
		"not increasing":   {spec: sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 50}, {Weight: 25}, {Weight: 100}}}, wantErr: "strictly increasing"},
		"not ending 100":   {spec: sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 5}, {Weight: 50}}}, wantErr: "must be 100"},
		"weight above 100": {spec: sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 5}, {Weight: 150}}}, wantErr: "spec.steps[1].weight"},
		"weight zero":      {spec: sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 0}, {Weight: 100}}}, wantErr: "spec.steps[0].weight"},
		"rate above 1":     {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxErrorRate: ptr.To(1.5)}}, wantErr: "spec.guard.maxErrorRate"},
		"negative window":  {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{Window: d("-1s")}}, wantErr: "window must be positive"},
		"zero interval":    {spec: sluicev1alpha1.ShiftPolicySpec{Interval: d("0s")}, wantErr: "interval must be at least 50ms"},
		"bad action":       {spec: sluicev1alpha1.ShiftPolicySpec{OnFailure: "Explode"}, wantErr: "spec.onFailure"},
		"confidence 1":     {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{Confidence: ptr.To(1.0)}}, wantErr: "spec.guard.confidence"},
		"p95 limit": {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{
			MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 0.95, Limit: *d("300ms")}, MaxLatencyP99: d("1s"), LatencyFactor: ptr.To(1.5)}}},
		"median limit":              {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 0.5, Limit: *d("20ms")}}}},
		"p99.9 limit":               {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 0.999, Limit: *d("2s")}}}},
		"quantile p99.99":           {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 0.9999, Limit: *d("1s")}}}, wantErr: "spec.guard.maxLatency.quantile in body should be less than or equal to 0.999"},
		"quantile below the median": {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 0.4, Limit: *d("1s")}}}, wantErr: "spec.guard.maxLatency.quantile in body should be greater than or equal to 0.5"},
		"quantile as a percentage":  {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 95, Limit: *d("1s")}}}, wantErr: "spec.guard.maxLatency.quantile"},
		"resources and checks": {spec: sluicev1alpha1.ShiftPolicySpec{
			Guard: &sluicev1alpha1.Guard{Resources: &sluicev1alpha1.Resources{Source: sluicev1alpha1.ResourceSourcePrometheus, Interval: d("2s"),
				Memory: &sluicev1alpha1.MemoryLimit{Factor: ptr.To(1.5), Floor: ptr.To(resource.MustParse("64Mi")), Samples: ptr.To[int32](3)},
				CPU:    &sluicev1alpha1.CPULimit{Factor: ptr.To(2.0)}}},
			Checks: []sluicev1alpha1.Check{check(func(*sluicev1alpha1.Check) {}), check(func(c *sluicev1alpha1.Check) {
				c.Name, c.Compare, c.Op, c.Interval, c.FailureLimit = "ratio", sluicev1alpha1.CompareRatio, sluicev1alpha1.CheckMin, d("1s"), ptr.To[int32](3)
			})},
		}},
		"resource interval under 1s": {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{Resources: &sluicev1alpha1.Resources{Interval: d("500ms")}}}, wantErr: "resources.interval must be at least 1s"},
		"memory factor under 1":      {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{Resources: &sluicev1alpha1.Resources{Memory: &sluicev1alpha1.MemoryLimit{Factor: ptr.To(0.5)}}}}, wantErr: "spec.guard.resources.memory.factor"},
		"unknown resource source":    {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{Resources: &sluicev1alpha1.Resources{Source: "Datadog"}}}, wantErr: "spec.guard.resources.source"},
		"check op":                   {spec: sluicev1alpha1.ShiftPolicySpec{Checks: []sluicev1alpha1.Check{check(func(c *sluicev1alpha1.Check) { c.Op = "above" })}}, wantErr: "spec.checks[0].op"},
		"check interval under 1s":    {spec: sluicev1alpha1.ShiftPolicySpec{Checks: []sluicev1alpha1.Check{check(func(c *sluicev1alpha1.Check) { c.Interval = d("100ms") })}}, wantErr: "checks[].interval must be at least 1s"},
		"ratio without subset":       {spec: sluicev1alpha1.ShiftPolicySpec{Checks: []sluicev1alpha1.Check{check(func(c *sluicev1alpha1.Check) { c.Query, c.Compare = "sum(up)", sluicev1alpha1.CompareRatio })}}, wantErr: "needs {{subset}} in its query"},
		"two checks of one name":     {spec: sluicev1alpha1.ShiftPolicySpec{Checks: []sluicev1alpha1.Check{check(func(*sluicev1alpha1.Check) {}), check(func(*sluicev1alpha1.Check) {})}}, wantErr: "Duplicate value"},
		"zero latency limit":         {spec: sluicev1alpha1.ShiftPolicySpec{Guard: &sluicev1alpha1.Guard{MaxLatency: &sluicev1alpha1.LatencyLimit{Quantile: 0.95}}}, wantErr: "maxLatency.limit must be positive"},
	}
	i := 0
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			i++
			p := &sluicev1alpha1.ShiftPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p" + strings.ReplaceAll(strings.ToLower(name), " ", "-")}, Spec: tc.spec}
			err := c.Client.Create(ctx, p)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("rejected a valid policy: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted an invalid policy, want error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not mention %q", err, tc.wantErr)
			}
		})
	}
}
