package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

var renderNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *metav1.Time { t := metav1.NewTime(renderNow.Add(-d)); return &t }

func progressingShift() *sluicev1alpha1.TrafficShift {
	return &sluicev1alpha1.TrafficShift{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "shop"},
		Status: sluicev1alpha1.TrafficShiftStatus{
			Phase: sluicev1alpha1.PhaseProgressing, Stable: "v1", Canary: "v2", Step: 2, Weight: 25,
			LastDecision: &sluicev1alpha1.Decision{Action: "Advance", Reason: "StepComplete", Message: "step 1 held 30s with 120 requests", Time: ago(90 * time.Second)},
			Window: &sluicev1alpha1.WindowStatus{
				Seconds: "10",
				Stable:  &sluicev1alpha1.SubsetWindow{Subset: "v1", Requests: 1200, Errors: 3, ErrorRate: "0.0025", P50Millis: "12", P99Millis: "80", Pods: 3},
				Canary:  &sluicev1alpha1.SubsetWindow{Subset: "v2", Requests: 400, Errors: 0, ErrorRate: "0", P50Millis: "11", Pods: 1, FailedPods: 1},
			},
			VirtualServices: []string{"reviews"},
			ManagedRoutes:   []sluicev1alpha1.RouteRef{{VirtualService: "reviews", Index: 0}},
			BypassRoutes:    []sluicev1alpha1.RouteRef{{VirtualService: "gateway", Index: 1, Name: "api"}},
			Conditions: []metav1.Condition{
				{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Valid", Message: "annotations, policy and routes are valid", LastTransitionTime: *ago(10 * time.Minute)},
			},
			History: []sluicev1alpha1.RolloutRecord{
				{Canary: "v1", Stable: "v0", Result: sluicev1alpha1.PhasePromoted, Reason: "StepsComplete", FinishedAt: ago(48 * time.Hour)},
			},
		},
	}
}

func TestRenderStatus(t *testing.T) {
	tests := map[string]struct {
		ts      func() *sluicev1alpha1.TrafficShift
		total   int
		want    []string
		notWant []string
	}{
		"progressing with window": {
			ts: progressingShift, total: 4,
			want: []string{
				"Service:", "shop/reviews", "Phase:", "Progressing", "v1 → v2", "2/4, canary weight 25%",
				"Advance StepComplete (90s ago)", "step 1 held 30s with 120 requests",
				"Window (last 10s)", "stable  v1", "1200", "0.25%", "12ms", "80ms",
				"canary  v2", "1 (1 failed)", "Bypass routes:", "gateway/api",
				"Ready", "Valid", "10m", "StepsComplete", "2d ago",
			},
		},
		"p95 guarded": {
			ts: func() *sluicev1alpha1.TrafficShift {
				ts := progressingShift()
				ts.Status.Window.Stable.Quantile, ts.Status.Window.Stable.LatencyMillis = "0.95", "61.5"
				ts.Status.Window.Canary.Quantile, ts.Status.Window.Canary.LatencyMillis = "0.95", "412"
				return ts
			},
			total: 4,
			want:  []string{"P50", "P99", "P95", "61.5ms", "412ms"},
		},
		"p99 guarded: no extra column": {
			ts: func() *sluicev1alpha1.TrafficShift {
				ts := progressingShift()
				ts.Status.Window.Stable.Quantile, ts.Status.Window.Stable.LatencyMillis = "0.99", "80"
				return ts
			},
			total:   4,
			want:    []string{"P99", "80ms"},
			notWant: []string{"P0.99", "P99.0"},
		},
		"data plane applied and drained": {
			ts: func() *sluicev1alpha1.TrafficShift {
				ts := progressingShift()
				at := metav1.NewMicroTime(renderNow)
				ts.Status.DataPlane = &sluicev1alpha1.DataPlaneStatus{Weight: 0, WrittenAt: &at, AppliedAt: &at, PropagationSeconds: "0.104",
					Callers: 2, Applied: 2, CanaryDrainedAt: &at, DrainSeconds: "0.197"}
				return ts
			},
			want: []string{"Data plane:", "canary weight 0 applied by 2 caller(s) 0.104s after the write; canary traffic stopped 0.197s after it"},
		},
		"data plane pending": {
			ts: func() *sluicev1alpha1.TrafficShift {
				ts := progressingShift()
				ts.Status.DataPlane = &sluicev1alpha1.DataPlaneStatus{Weight: 25, Callers: 3, Applied: 1}
				return ts
			},
			want:    []string{"canary weight 25 not yet applied (1 of 3 callers)"},
			notWant: []string{"stopped"},
		},
		"unknown step count": {
			ts: progressingShift, total: 0, want: []string{"Step:", "2, canary weight 25%"}, notWant: []string{"2/"},
		},
		"paused shows the reason": {
			ts: func() *sluicev1alpha1.TrafficShift {
				ts := progressingShift()
				ts.Status.Phase, ts.Status.PausedReason = sluicev1alpha1.PhasePaused, "GuardTripped"
				return ts
			},
			want: []string{"Paused (GuardTripped)"},
		},
		"idle without window or history": {
			ts: func() *sluicev1alpha1.TrafficShift {
				return &sluicev1alpha1.TrafficShift{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "b"},
					Status: sluicev1alpha1.TrafficShiftStatus{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1"}}
			},
			want:    []string{"Idle", "v1 → -", "Step:", "-, canary weight 0%"},
			notWant: []string{"Window", "History", "Conditions", "Last decision"},
		},
		"history is cut to the newest entries": {
			ts: func() *sluicev1alpha1.TrafficShift {
				ts := progressingShift()
				ts.Status.History = nil
				for i := 0; i < historyShown+3; i++ {
					ts.Status.History = append(ts.Status.History, sluicev1alpha1.RolloutRecord{Canary: "c", Result: sluicev1alpha1.PhaseRolledBack})
				}
				return ts
			},
			want: []string{"… 3 more"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := renderStatus(&out, tc.ts(), tc.total, renderNow); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	tests := map[string]struct {
		st    sluicev1alpha1.TrafficShiftStatus
		total int
		want  string
	}{
		"progressing": {
			st:    sluicev1alpha1.TrafficShiftStatus{Phase: sluicev1alpha1.PhaseProgressing, Stable: "v1", Canary: "v2", Step: 1, Weight: 5, LastDecision: &sluicev1alpha1.Decision{Reason: "RolloutStarted", Message: "go"}},
			total: 4,
			want:  "12:00:00 reviews: Progressing v1 → v2 step 1/4 weight 5%: RolloutStarted: go",
		},
		"paused": {
			st:   sluicev1alpha1.TrafficShiftStatus{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", Step: 3, Weight: 50, PausedReason: "OperatorPause"},
			want: "12:00:00 reviews: Paused v1 → v2 step 3 weight 50% (paused: OperatorPause)",
		},
		"idle": {
			st:   sluicev1alpha1.TrafficShiftStatus{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1"},
			want: "12:00:00 reviews: Idle stable v1",
		},
		"no phase yet": {
			want: "12:00:00 reviews: -",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := progressLine(renderNow, "reviews", &tc.st, tc.total); got != tc.want {
				t.Errorf("progressLine =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

func TestProgressKeyChanges(t *testing.T) {
	base := sluicev1alpha1.TrafficShiftStatus{Phase: sluicev1alpha1.PhaseProgressing, Stable: "v1", Canary: "v2", Step: 1, Weight: 5}
	tests := map[string]struct {
		edit    func(*sluicev1alpha1.TrafficShiftStatus)
		changed bool
	}{
		"window only":  {func(s *sluicev1alpha1.TrafficShiftStatus) { s.Window = &sluicev1alpha1.WindowStatus{Seconds: "3"} }, false},
		"step request": {func(s *sluicev1alpha1.TrafficShiftStatus) { s.StepRequests = 99 }, false},
		"step":         {func(s *sluicev1alpha1.TrafficShiftStatus) { s.Step, s.Weight = 2, 25 }, true},
		"phase":        {func(s *sluicev1alpha1.TrafficShiftStatus) { s.Phase = sluicev1alpha1.PhasePaused }, true},
		"canary":       {func(s *sluicev1alpha1.TrafficShiftStatus) { s.Canary = "v3" }, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			next := *base.DeepCopy()
			tc.edit(&next)
			if got := progressKey(&base) != progressKey(&next); got != tc.changed {
				t.Errorf("key changed = %v, want %v", got, tc.changed)
			}
		})
	}
}

func TestFormatters(t *testing.T) {
	tests := map[string]struct {
		got, want string
	}{
		"percent":         {percent("0.0123"), "1.23%"},
		"percent zero":    {percent("0"), "0.00%"},
		"percent empty":   {percent(""), "-"},
		"percent garbage": {percent("n/a"), "n/a"},
		"millis":          {millis("12.5"), "12.5ms"},
		"millis empty":    {millis(""), "-"},
		"window":          {windowSeconds("9.5"), "last 9.5s"},
		"window empty":    {windowSeconds(""), "length unknown"},
		"step of n":       {stepText(3, 4), "3/4"},
		"step unknown n":  {stepText(3, 0), "3"},
		"no step":         {stepText(0, 4), "-"},
		"age":             {age(renderNow, ago(3*time.Minute)), "3m"},
		"age unknown":     {age(renderNow, nil), "?"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

// TestPrintShift checks -o json|yaml through kubectl's printers: apiVersion and kind set,
// managedFields left out, the input untouched.
func TestPrintShift(t *testing.T) {
	tests := map[string]struct {
		format    string
		unmarshal func([]byte, any) error
	}{
		"json": {"json", json.Unmarshal},
		"yaml": {"yaml", func(b []byte, v any) error { return yaml.Unmarshal(b, v) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := progressingShift()
			in.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "sluice"}}
			var out bytes.Buffer
			pf := genericclioptions.NewPrintFlags("").WithTypeSetter(scheme)
			*pf.OutputFormat = tc.format
			printer, err := pf.ToPrinter()
			if err != nil {
				t.Fatal(err)
			}
			v := &statusView{out: &out, printer: printer}
			if err := v.print(in); err != nil {
				t.Fatal(err)
			}
			var back sluicev1alpha1.TrafficShift
			if err := tc.unmarshal(out.Bytes(), &back); err != nil {
				t.Fatalf("output does not parse back: %v\n%s", err, out.String())
			}
			if back.Kind != "TrafficShift" || back.APIVersion != "sluice.dev/v1alpha1" {
				t.Errorf("kind/apiVersion = %q/%q", back.Kind, back.APIVersion)
			}
			if back.ManagedFields != nil {
				t.Errorf("managedFields were printed")
			}
			if back.Status.Canary != "v2" || back.Status.Window.Canary.Requests != 400 || len(in.ManagedFields) != 1 {
				t.Errorf("status not round-tripped or input modified: %+v", back.Status)
			}
		})
	}
}
