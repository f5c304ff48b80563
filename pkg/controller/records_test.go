package controller

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/record"
)

func TestBuildRecord(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	started := metav1.NewMicroTime(t0.Add(-time.Minute))
	release := &sluicev1alpha1.ReleaseContext{Commit: "3f9c1e2a", Pipeline: "build 4711", URL: "https://ci.example.com/4711", By: "ci-bot",
		Stable: sluicev1alpha1.SubsetRelease{Subset: "v1", Images: []string{"reviews:1.4.2"}, Version: "1.4.2"},
		Canary: sluicev1alpha1.SubsetRelease{Subset: "v2", Images: []string{"reviews:1.5.0"}, Version: "1.5.0"}}
	window := &sluicev1alpha1.WindowStatus{Seconds: "10.0",
		Canary: &sluicev1alpha1.SubsetWindow{Requests: 400, Errors: 40, ErrorRate: "0.1000", P50Millis: "12.0", P99Millis: "80.5"},
		Stable: &sluicev1alpha1.SubsetWindow{Requests: 1200, Errors: 3, ErrorRate: "0.0025", P50Millis: "11.0", P99Millis: "60.0"}}
	alertStart := metav1.NewTime(t0.Add(-2 * time.Minute))
	status := func(phase sluicev1alpha1.Phase, weight int32) *sluicev1alpha1.TrafficShiftStatus {
		return &sluicev1alpha1.TrafficShiftStatus{Phase: phase, Stable: "v1", Canary: "v2", Step: 2, Weight: weight,
			RolloutStartedAt: &started, Window: window, Release: release, Transitions: 3,
			Alerts: []sluicev1alpha1.AlertRecord{{Fingerprint: "f1", Name: "CanaryErrors", Summary: "5xx", StartsAt: alertStart, GeneratorURL: "http://prom/x"}}}
	}
	fault := t0.Add(-3 * time.Second)
	tests := map[string]struct {
		in    recordInput
		check func(*testing.T, record.Record)
	}{
		"a guard rollback carries the numbers, the release and when the fault began": {
			in: recordInput{t: lifecycle.Transition{Kind: lifecycle.Rollback, Reason: reason.ErrorRate, Message: "canary 5xx 10%", Stable: "v1", Canary: "v2"},
				namespace: "shop", service: "reviews", cluster: "eu-1", status: status(sluicev1alpha1.PhaseRolledBack, 0), weightBefore: 25, steps: 4, decidedAt: t0, faultAt: &fault},
			check: func(t *testing.T, r record.Record) {
				want := record.Record{Event: record.RolledBack, Namespace: "shop", Service: "reviews", Cluster: "eu-1",
					From:   record.Version{Subset: "v1", Images: []string{"reviews:1.4.2"}, Version: "1.4.2"},
					To:     record.Version{Subset: "v2", Images: []string{"reviews:1.5.0"}, Version: "1.5.0"},
					Weight: record.Weights{Before: 25, After: 0}, Step: record.Step{Index: 2, Of: 4}, Reason: reason.ErrorRate, Message: "canary 5xx 10%",
					Window: &record.Window{Seconds: 10, Canary: record.Traffic{Requests: 400, Errors: 40, ErrorRate: 0.1, P50Ms: 12, P99Ms: 80.5},
						Stable: record.Traffic{Requests: 1200, Errors: 3, ErrorRate: 0.0025, P50Ms: 11, P99Ms: 60}},
					Release: record.Release{Commit: "3f9c1e2a", Pipeline: "build 4711", URL: "https://ci.example.com/4711", By: "ci-bot"},
					Times:   record.Times{DecidedAt: t0, FaultAt: &fault}}
				want.ID = r.ID
				if !jsonEqual(r, want) {
					t.Fatalf("record\n%s\nwant\n%s", mustJSON(r), mustJSON(want))
				}
			},
		},
		"an alert rollback names the alert, and the fault began when it did": {
			in: recordInput{t: lifecycle.Transition{Kind: lifecycle.Rollback, Reason: reason.AlertFiring, Stable: "v1", Canary: "v2", Alerts: []string{"f1"}},
				namespace: "shop", service: "reviews", status: status(sluicev1alpha1.PhaseRolledBack, 0), weightBefore: 5, steps: 4, decidedAt: t0},
			check: func(t *testing.T, r record.Record) {
				if r.Alert == nil || r.Alert.Name != "CanaryErrors" || r.Times.FaultAt == nil || !r.Times.FaultAt.Equal(alertStart.Time) {
					t.Fatalf("alert %+v fault %v", r.Alert, r.Times.FaultAt)
				}
			},
		},
		"a release context for another canary is not used": {
			in: recordInput{t: lifecycle.Transition{Kind: lifecycle.Start, Stable: "v1", Canary: "v3"}, status: status(sluicev1alpha1.PhaseProgressing, 5), steps: 4, decidedAt: t0},
			check: func(t *testing.T, r record.Record) {
				if r.Release != (record.Release{}) || r.To.Images != nil || r.Event != record.Started {
					t.Fatalf("record %s", mustJSON(r))
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tc.check(t, buildRecord(tc.in))
		})
	}
}

// The same transition decided again (same status count) keeps its id; the next one does not.
func TestRecordID(t *testing.T) {
	started := metav1.NewMicroTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &sluicev1alpha1.TrafficShiftStatus{RolloutStartedAt: &started, Transitions: 4}
	a, b := recordID("ns", "svc", st), recordID("ns", "svc", st)
	st.Transitions++
	if a != b || a == recordID("ns", "svc", st) || a == recordID("ns", "other", &sluicev1alpha1.TrafficShiftStatus{RolloutStartedAt: &started, Transitions: 4}) {
		t.Fatalf("ids %s %s %s", a, b, recordID("ns", "svc", st))
	}
}

// The log line has the record's JSON fields and nothing else but the logger's own.
func TestRecordLogLine(t *testing.T) {
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	logger := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zapcore.InfoLevel)).Named("rollout")
	fault := time.Now()
	for _, rec := range []record.Record{
		{ID: "1", Event: record.Started, Namespace: "ns", Service: "svc", Times: record.Times{DecidedAt: time.Now()}},
		{ID: "2", Event: record.RolledBack, Namespace: "ns", Service: "svc", Cluster: "c", Window: &record.Window{}, Alert: &record.Alert{Name: "A"},
			Release: record.Release{Commit: "abc1234"}, Times: record.Times{DecidedAt: time.Now(), FaultAt: &fault}},
	} {
		buf.Reset()
		r := &Reconciler{RecordLog: logger}
		r.logRecord(t.Context(), rec)
		var line, want map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("not one JSON line: %q", buf.String())
		}
		if err := json.Unmarshal([]byte(mustJSON(rec)), &want); err != nil {
			t.Fatal(err)
		}
		wantLevel := "info"
		if rec.Event == record.RolledBack {
			wantLevel = "warn"
		}
		if line["level"] != wantLevel || line["msg"] != "rollout "+string(rec.Event) {
			t.Errorf("level %v msg %v", line["level"], line["msg"])
		}
		for _, k := range []string{"level", "ts", "msg", "logger", "caller"} {
			delete(line, k)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(line)), slices.Sorted(maps.Keys(want))) {
			t.Fatalf("log fields %v, record fields %v", slices.Sorted(maps.Keys(line)), slices.Sorted(maps.Keys(want)))
		}
		for k, v := range want {
			if mustJSON(line[k]) != mustJSON(v) {
				t.Errorf("%s: log %s, record %s", k, mustJSON(line[k]), mustJSON(v))
			}
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }
