package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

func TestAlertRecordedPredicate(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := func(fp string, acted bool) sluicev1alpha1.AlertRecord {
		r := sluicev1alpha1.AlertRecord{Fingerprint: fp, StartsAt: t0}
		if acted {
			now := metav1.NowMicro()
			r.ActedAt = &now
		}
		return r
	}
	ts := func(recs ...sluicev1alpha1.AlertRecord) *sluicev1alpha1.TrafficShift {
		return &sluicev1alpha1.TrafficShift{Status: sluicev1alpha1.TrafficShiftStatus{Alerts: recs, Weight: 5}}
	}
	tests := map[string]struct {
		old, cur *sluicev1alpha1.TrafficShift
		want     bool
	}{
		"a new alert":                           {old: ts(), cur: ts(rec("a", false)), want: true},
		"a second alert":                        {old: ts(rec("a", false)), cur: ts(rec("a", false), rec("b", false)), want: true},
		"the controller's own status write":     {old: ts(rec("a", false)), cur: ts(rec("a", false)), want: false},
		"the controller marking an alert acted": {old: ts(rec("a", false)), cur: ts(rec("a", true)), want: false},
		"the oldest record trimmed":             {old: ts(rec("a", true), rec("b", false)), cur: ts(rec("b", false)), want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := (alertRecorded{}).Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.cur}); got != tc.want {
				t.Fatalf("Update = %v, want %v", got, tc.want)
			}
		})
	}
}
