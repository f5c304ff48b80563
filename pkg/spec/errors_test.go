package spec

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseReportsAllProblems(t *testing.T) {
	ann := map[string]string{
		AnnEnabled:         "yes",
		AnnCanary:          "V2",
		AnnSteps:           "5,50",
		AnnMaxErrorRate:    "150%",
		AnnRetry:           "v2@",
		"sluice.dev/stpes": "5,100",
		"sluice.dev/pause": "true",
		"team.io/owner":    "payments",
	}
	_, err := Parse(ann, nil)
	var inv *InvalidError
	if !errors.As(err, &inv) {
		t.Fatalf("Parse error = %v, want *InvalidError", err)
	}
	wantFields := []string{AnnEnabled, AnnCanary, AnnSteps, AnnMaxErrorRate, AnnRetry, "sluice.dev/pause", "sluice.dev/stpes"}
	var gotFields []string
	for _, p := range inv.Problems {
		gotFields = append(gotFields, p.Field)
	}
	if !reflect.DeepEqual(gotFields, wantFields) {
		t.Fatalf("problem fields = %v, want %v", gotFields, wantFields)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(wantFields) {
		t.Fatalf("message has %d lines, want %d:\n%s", len(lines), len(wantFields), err)
	}
	for i, f := range wantFields {
		if !strings.HasPrefix(lines[i], f+": ") {
			t.Errorf("line %d = %q, want it to start with %q", i, lines[i], f)
		}
	}
	if !strings.Contains(lines[5], "did you mean sluice.dev/paused?") || !strings.Contains(lines[6], "did you mean sluice.dev/steps?") {
		t.Errorf("typo lines lack suggestions:\n%s", err)
	}
}

func TestProblemString(t *testing.T) {
	tests := map[string]struct {
		p    Problem
		want string
	}{
		"annotation": {
			Problem{Field: AnnMaxErrorRate, Value: "1.5", Expected: expectRate},
			`sluice.dev/max-error-rate: "1.5" is not a rate: expected a number in [0,1] like 0.01 or a percentage like 1%`,
		},
		"policy step field": {
			Problem{Field: "policy.spec.steps[2].weight", Value: "0", Expected: "an integer in 1..100"},
			`policy.spec.steps[2].weight: "0" is not a step weight: expected an integer in 1..100`,
		},
		"unknown annotation": {
			Problem{Field: "sluice.dev/canery", Value: "v2", Expected: "a known sluice annotation; did you mean sluice.dev/canary?"},
			`sluice.dev/canery: unknown annotation (value "v2"): expected a known sluice annotation; did you mean sluice.dev/canary?`,
		},
		"unlisted field": {
			Problem{Field: "policy.spec.other", Value: "x", Expected: "y"},
			`policy.spec.other: "x" is not valid: expected y`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.p.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
