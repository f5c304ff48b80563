package cli

import (
	"encoding/json"
	"strings"
	"testing"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

func TestStatusE2E(t *testing.T) {
	needCluster(t)
	st := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 2, 25)
	st.LastDecision = &sluicev1alpha1.Decision{Action: "Advance", Reason: "StepComplete", Message: "held 30s"}
	createService(t, "status-shown", map[string]string{spec.AnnCanary: "v2", spec.AnnSteps: "10,50,100"}, &st)
	createService(t, "status-missing-shift", nil, nil)
	tests := map[string]struct {
		args  []string
		code  int
		check func(t *testing.T, stdout string)
		err   string
	}{
		// Three steps come from the sluice.dev/steps override, no ShiftPolicy exists.
		"text": {args: []string{"status", "status-shown"}, check: func(t *testing.T, out string) {
			for _, w := range []string{"Progressing", "v1 → v2", "2/3, canary weight 25%", "StepComplete", "held 30s"} {
				if !strings.Contains(out, w) {
					t.Errorf("status lacks %q:\n%s", w, out)
				}
			}
		}},
		"json": {args: []string{"status", "status-shown", "-o", "json"}, check: func(t *testing.T, out string) {
			var ts sluicev1alpha1.TrafficShift
			if err := json.Unmarshal([]byte(out), &ts); err != nil {
				t.Fatalf("-o json is not a TrafficShift: %v\n%s", err, out)
			}
			if ts.Status.Canary != "v2" || ts.Status.Weight != 25 || ts.Kind != "TrafficShift" {
				t.Errorf("-o json status = %+v", ts.Status)
			}
		}},
		"no TrafficShift":   {args: []string{"status", "status-missing-shift"}, code: ExitFailed, err: "not picked the Service up"},
		"no such Service":   {args: []string{"status", "nope"}, code: ExitFailed, err: "not found"},
		"wait: no Service":  {args: []string{"wait", "nope"}, code: ExitError, err: "not found"},
		"abort: no Service": {args: []string{"abort", "nope"}, code: ExitFailed, err: "not found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.err) {
				t.Errorf("stderr lacks %q: %s", tc.err, r.stderr)
			}
			if tc.check != nil {
				tc.check(t, r.stdout)
			}
		})
	}
}
