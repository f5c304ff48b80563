package controller

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

func TestTruncate(t *testing.T) {
	tests := map[string]struct {
		in   string
		n    int
		want string
	}{
		"short stays":           {in: "abc", n: 10, want: "abc"},
		"exact stays":           {in: "abcde", n: 5, want: "abcde"},
		"cut marked":            {in: "abcdefghij", n: 6, want: "abc…"},
		"whole rune fits":       {in: "ab→→→→", n: 8, want: "ab→…"},
		"rune boundary kept":    {in: "ab→→→→", n: 7, want: "ab…"},
		"event limit respected": {in: strings.Repeat("x", 5000), n: maxEventNote, want: strings.Repeat("x", maxEventNote-3) + "…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want {
				t.Fatalf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
			if len(got) > tc.n || !utf8.ValidString(got) {
				t.Fatalf("result %q is %d bytes (limit %d) or invalid UTF-8", got, len(got), tc.n)
			}
		})
	}
}

// TestWindowStatusQuantile: both subsets' windows carry the guard's quantile and their
// latency at it, beside p50 and p99.
func TestWindowStatusQuantile(t *testing.T) {
	// 100 samples: 90 ≤ 10 ms, 10 in (100, 250] ms.
	h := traffic.Histogram{Bounds: []float64{10, 100, 250}, Counts: []uint64{90, 90, 100}, Count: 100}
	withLatency := window.Stats{Requests: 100, Latency: h, P50: window.Quantile(h, 0.5), P99: window.Quantile(h, 0.99)}
	noSamples := window.Stats{P50: math.NaN(), P99: math.NaN()}
	tests := map[string]struct {
		s           window.Stats
		q           float64
		wantQ       string
		wantLatency string
		wantP99     string
	}{
		"p95":                       {s: withLatency, q: 0.95, wantQ: "0.95", wantLatency: "175.0", wantP99: "235.0"},
		"p99 by default":            {s: withLatency, q: 0.99, wantQ: "0.99", wantLatency: "235.0", wantP99: "235.0"},
		"p99.9":                     {s: withLatency, q: 0.999, wantQ: "0.999", wantLatency: "248.5", wantP99: "235.0"},
		"no samples: quantile only": {s: noSamples, q: 0.95, wantQ: "0.95"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ws := windowStatus("v1", "v2", tc.s, tc.s, tc.q)
			for _, sw := range []*sluicev1alpha1.SubsetWindow{ws.Canary, ws.Stable} {
				if sw.Quantile != tc.wantQ || sw.LatencyMillis != tc.wantLatency || sw.P99Millis != tc.wantP99 {
					t.Fatalf("%s: quantile %q latency %q p99 %q, want %q %q %q", sw.Subset, sw.Quantile, sw.LatencyMillis, sw.P99Millis, tc.wantQ, tc.wantLatency, tc.wantP99)
				}
			}
		})
	}
}

// TestTickStatus: a tick that moved only the window, the step's request count or the
// decision's message is a refresh once StatusEvery has passed (and nothing before);
// anything else is a change, written at once.
func TestTickStatus(t *testing.T) {
	const every = 5 * time.Second
	base := func() *sluicev1alpha1.TrafficShiftStatus {
		return &sluicev1alpha1.TrafficShiftStatus{
			Phase: sluicev1alpha1.PhaseProgressing, Stable: "v1", Canary: "v2", Step: 1, Weight: 5, StepRequests: 100,
			Window:       &sluicev1alpha1.WindowStatus{Seconds: "10.0", Canary: &sluicev1alpha1.SubsetWindow{Subset: "v2", Requests: 40}},
			LastDecision: &sluicev1alpha1.Decision{Reason: "StepDwell", Message: "held 1s of 10m"},
			Conditions: []metav1.Condition{{Type: "Observable", Status: metav1.ConditionTrue, Reason: "StatsAvailable",
				Message: "reading stats of canary \"v2\" from 3 endpoint(s)", LastTransitionTime: metav1.NewTime(time.Unix(1_800_000_000, 0))}},
		}
	}
	tests := map[string]struct {
		change     func(*sluicev1alpha1.TrafficShiftStatus)
		sinceWrite time.Duration
		want       statusWrite
	}{
		"nothing changed, written 1 s ago": {change: func(*sluicev1alpha1.TrafficShiftStatus) {}, sinceWrite: time.Second, want: statusCurrent},
		"window moved, written 4.9 s ago":  {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Window.Canary.Requests = 45 }, sinceWrite: every - 100*time.Millisecond, want: statusCurrent},
		"window moved, written 5 s ago":    {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Window.Canary.Requests = 45 }, sinceWrite: every, want: statusRefreshDue},
		"step requests grew":               {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.StepRequests = 130 }, sinceWrite: time.Second, want: statusCurrent},
		"same reason, new message":         {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.LastDecision.Message = "held 2s of 10m" }, sinceWrite: time.Second, want: statusCurrent},
		"new reason":                       {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.LastDecision.Reason = "NotEnoughRequests" }, sinceWrite: time.Second, want: statusChanged},
		"weight changed":                   {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Weight, s.Step = 25, 2 }, sinceWrite: time.Millisecond, want: statusChanged},
		"phase changed":                    {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Phase = sluicev1alpha1.PhasePaused }, sinceWrite: time.Millisecond, want: statusChanged},
		"phase changed and a refresh due":  {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Phase = sluicev1alpha1.PhasePaused }, sinceWrite: time.Minute, want: statusChanged},
		"condition message only": {change: func(s *sluicev1alpha1.TrafficShiftStatus) {
			s.Conditions[0].Message = "reading stats of canary \"v2\" from 2 endpoint(s); 1 of 3 callers failing"
		}, sinceWrite: time.Second, want: statusCurrent},
		"condition message only, refresh due": {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Conditions[0].Message = "other" }, sinceWrite: every, want: statusRefreshDue},
		"condition status flipped": {change: func(s *sluicev1alpha1.TrafficShiftStatus) {
			s.Conditions[0].Status, s.Conditions[0].LastTransitionTime = metav1.ConditionFalse, metav1.NewTime(time.Unix(1_800_000_100, 0))
		}, sinceWrite: time.Second, want: statusChanged},
		"condition reason changed": {change: func(s *sluicev1alpha1.TrafficShiftStatus) { s.Conditions[0].Reason = "StatsUnavailable" }, sinceWrite: time.Second, want: statusChanged},
		"condition added": {change: func(s *sluicev1alpha1.TrafficShiftStatus) {
			s.Conditions = append(s.Conditions, metav1.Condition{Type: "Ready"})
		}, sinceWrite: time.Second, want: statusChanged},
		"condition changed with the window": {change: func(s *sluicev1alpha1.TrafficShiftStatus) {
			s.Window.Canary.Requests = 1
			s.Conditions = []metav1.Condition{{Type: "Observable"}}
		}, sinceWrite: time.Millisecond, want: statusChanged},
		"never written (zero last write) is due": {change: func(*sluicev1alpha1.TrafficShiftStatus) {}, sinceWrite: time.Duration(math.MaxInt64), want: statusRefreshDue},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := base()
			after := before.DeepCopy()
			tc.change(after)
			if got := tickStatus(before, after, tc.sinceWrite, every); got != tc.want {
				t.Errorf("tickStatus = %v, want %v", got, tc.want)
			}
		})
	}
}
