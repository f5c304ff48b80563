package cli

import (
	"strings"
	"testing"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

func TestJudge(t *testing.T) {
	type st = sluicev1alpha1.TrafficShiftStatus
	rolledBack := &sluicev1alpha1.Decision{Reason: "ErrorRateTooHigh", Message: "canary 5xx 12%"}
	tests := map[string]struct {
		want     awaited
		status   *st
		current  bool
		done     bool
		code     int
		whyParts []string
	}{
		"no TrafficShift yet": {want: awaited{canary: "v2"}, status: nil, current: true},
		"progressing awaited canary": {
			want: awaited{canary: "v2"}, status: &st{Phase: sluicev1alpha1.PhaseProgressing, Stable: "v1", Canary: "v2", Step: 2, Weight: 25}, current: true,
		},
		"promoted awaited canary": {
			want: awaited{canary: "v2"}, status: &st{Phase: sluicev1alpha1.PhasePromoted, Stable: "v2", Canary: "v2", Weight: 100},
			done: true, code: ExitPromoted, whyParts: []string{`"v2" promoted`},
		},
		"rolled back awaited canary carries the reason": {
			want: awaited{canary: "v2"}, status: &st{Phase: sluicev1alpha1.PhaseRolledBack, Stable: "v1", Canary: "v2", LastDecision: rolledBack},
			done: true, code: ExitRolledBack, whyParts: []string{"rolled back", "ErrorRateTooHigh", "canary 5xx 12%"},
		},
		"old promoted of another canary is ignored": {
			want: awaited{canary: "v3"}, status: &st{Phase: sluicev1alpha1.PhasePromoted, Stable: "v2", Canary: "v2", Weight: 100}, current: true,
		},
		"old rolled back of another canary is ignored": {
			want: awaited{canary: "v3"}, status: &st{Phase: sluicev1alpha1.PhaseRolledBack, Stable: "v1", Canary: "v2"}, current: true,
		},
		"awaited subset is already the idle stable": {
			want: awaited{canary: "v1"}, status: &st{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1"},
			done: true, code: ExitPromoted, whyParts: []string{"stable"},
		},
		"invalid for the awaited canary": {
			want: awaited{canary: "v2"}, status: &st{Phase: sluicev1alpha1.PhaseInvalid, Stable: "v1", Canary: "v2", LastDecision: &sluicev1alpha1.Decision{Reason: "SubsetNotFound"}},
			done: true, code: ExitInvalid, whyParts: []string{"SubsetNotFound"},
		},
		"current invalid without a canary": {
			want: awaited{canary: "v9"}, status: &st{Phase: sluicev1alpha1.PhaseInvalid, Stable: "v1"}, current: true,
			done: true, code: ExitInvalid,
		},
		"invalid that may predate the wait is not trusted": {
			want: awaited{canary: "v9"}, status: &st{Phase: sluicev1alpha1.PhaseInvalid, Stable: "v1"}, current: false,
		},
		"paused without fail-on-pause keeps waiting": {
			want: awaited{canary: "v2"}, status: &st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", PausedReason: "OperatorPause"}, current: true,
		},
		"paused with fail-on-pause": {
			want: awaited{canary: "v2", failOnPause: true}, status: &st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", PausedReason: "GuardTripped"},
			done: true, code: ExitPaused, whyParts: []string{"GuardTripped"},
		},
		"paused of another canary with fail-on-pause is ignored": {
			want: awaited{canary: "v3", failOnPause: true}, status: &st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2"}, current: true,
		},
		"superseded while waiting ends as its history record": {
			want: awaited{canary: "v2"}, current: true,
			status: &st{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1", Canary: "v2", History: []sluicev1alpha1.RolloutRecord{
				{Canary: "v2", Stable: "v1", Result: sluicev1alpha1.PhaseRolledBack, Reason: "Superseded"},
			}},
			done: true, code: ExitRolledBack, whyParts: []string{"Superseded"},
		},
		"an old supersede record before the wait is not trusted": {
			want: awaited{canary: "v2"}, current: false,
			status: &st{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1", Canary: "v2", History: []sluicev1alpha1.RolloutRecord{
				{Canary: "v2", Result: sluicev1alpha1.PhaseRolledBack, Reason: "Superseded"},
			}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := tc.want.judge(tc.status, tc.current)
			if v.done != tc.done || (tc.done && v.code != tc.code) {
				t.Fatalf("judge = done %v code %d (%q), want done %v code %d", v.done, v.code, v.why, tc.done, tc.code)
			}
			for _, part := range tc.whyParts {
				if !strings.Contains(v.why, part) {
					t.Errorf("why %q does not mention %q", v.why, part)
				}
			}
		})
	}
}

func TestRecordVerdict(t *testing.T) {
	tests := map[string]struct {
		result sluicev1alpha1.Phase
		code   int
	}{
		"promoted":    {sluicev1alpha1.PhasePromoted, ExitPromoted},
		"rolled back": {sluicev1alpha1.PhaseRolledBack, ExitRolledBack},
		"other":       {sluicev1alpha1.PhaseInvalid, ExitError},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := recordVerdict(sluicev1alpha1.RolloutRecord{Canary: "v2", Result: tc.result, Reason: "R", Message: "m"})
			if !v.done || v.code != tc.code {
				t.Fatalf("recordVerdict(%s) = %+v, want code %d", tc.result, v, tc.code)
			}
			if !strings.Contains(v.why, "R: m") {
				t.Errorf("why %q lacks the reason and message", v.why)
			}
		})
	}
}

// The exit codes are an interface for CI scripts: they must stay distinct.
func TestWaitExitCodesDistinct(t *testing.T) {
	seen := map[int]string{}
	for name, code := range map[string]int{
		"promoted": ExitPromoted, "rolledBack": ExitRolledBack, "timeout": ExitTimeout,
		"invalid": ExitInvalid, "paused": ExitPaused, "error": ExitError,
	} {
		if other, dup := seen[code]; dup {
			t.Errorf("exit code %d used by both %s and %s", code, name, other)
		}
		seen[code] = name
		if !strings.Contains(waitLong, "\n  "+string(rune('0'+code))+"  ") {
			t.Errorf("wait --help does not document exit code %d (%s)", code, name)
		}
	}
}
