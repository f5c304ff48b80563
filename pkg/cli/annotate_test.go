package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

func TestPlan(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	token := "v2@1700000000123456789"
	type st = sluicev1alpha1.TrafficShiftStatus
	progressing := &st{Phase: sluicev1alpha1.PhaseProgressing, Stable: "v1", Canary: "v2", Weight: 25}
	guardPaused := &st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", PausedReason: "GuardTripped"}
	operatorPaused := &st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", PausedReason: operatorPause}
	rolledBack := &st{Phase: sluicev1alpha1.PhaseRolledBack, Stable: "v1", Canary: "v2"}
	promoted := &st{Phase: sluicev1alpha1.PhasePromoted, Stable: "v2", Canary: "v2", Weight: 100}
	pausedAnn := map[string]string{spec.AnnPaused: "true", spec.AnnCanary: "v2"}
	awaiting := &st{Phase: sluicev1alpha1.PhaseAwaitingApproval, Stable: "v1", Canary: "v2", Step: 3, Weight: 50}
	tests := map[string]struct {
		cmd     annotateCmd
		ann     map[string]string
		status  *st
		want    map[string]*string
		wantErr string
	}{
		"promote names the status canary": {cmd: cmdPromote, ann: map[string]string{spec.AnnCanary: "v3"}, status: progressing, want: map[string]*string{spec.AnnPromote: ptr("v2")}},
		"promote a paused rollout":        {cmd: cmdPromote, status: guardPaused, want: map[string]*string{spec.AnnPromote: ptr("v2")}},
		"promote without a rollout":       {cmd: cmdPromote, status: promoted, wantErr: "no rollout under way (phase Promoted, canary v2)"},
		"promote without a TrafficShift":  {cmd: cmdPromote, wantErr: "no TrafficShift"},
		"abort names the status canary":   {cmd: cmdAbort, status: progressing, want: map[string]*string{spec.AnnAbort: ptr("v2")}},
		"abort after rollback":            {cmd: cmdAbort, status: rolledBack, wantErr: "no rollout under way"},
		"pause":                           {cmd: cmdPause, status: progressing, want: map[string]*string{spec.AnnPaused: ptr("true")}},
		"pause before any rollout":        {cmd: cmdPause, want: map[string]*string{spec.AnnPaused: ptr("true")}},
		"resume an operator pause":        {cmd: cmdResume, ann: pausedAnn, status: operatorPaused, want: map[string]*string{spec.AnnPaused: nil}},
		"resume a guard pause with the annotation": {
			cmd: cmdResume, ann: pausedAnn, status: guardPaused, want: map[string]*string{spec.AnnPaused: nil, spec.AnnRetry: ptr(token)},
		},
		"resume a guard pause without the annotation": {cmd: cmdResume, status: guardPaused, want: map[string]*string{spec.AnnRetry: ptr(token)}},
		"resume before the first rollout":             {cmd: cmdResume, ann: pausedAnn, want: map[string]*string{spec.AnnPaused: nil}},
		"resume with nothing paused":                  {cmd: cmdResume, status: progressing, wantErr: "nothing to resume"},
		"resume approves the gate it waits at":        {cmd: cmdResume, status: awaiting, want: map[string]*string{spec.AnnApprove: ptr("v2@50")}},
		"promote a rollout awaiting approval":         {cmd: cmdPromote, status: awaiting, want: map[string]*string{spec.AnnPromote: ptr("v2")}},
		"retry a rollback":                            {cmd: cmdRetry, status: rolledBack, want: map[string]*string{spec.AnnRetry: ptr(token)}},
		"retry a pause":                               {cmd: cmdRetry, status: guardPaused, want: map[string]*string{spec.AnnRetry: ptr(token)}},
		"retry while progressing":                     {cmd: cmdRetry, status: progressing, wantErr: "must be RolledBack or Paused"},
		"retry without a TrafficShift":                {cmd: cmdRetry, wantErr: "no TrafficShift"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := planAnnotations(tc.cmd, tc.ann, tc.status, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("plan error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("plan = %s, want %s", describeChanges(got), describeChanges(tc.want))
			}
		})
	}
}

func TestMergePatch(t *testing.T) {
	body, err := mergePatch(map[string]*string{spec.AnnPaused: nil, spec.AnnRetry: ptr("v2@1")})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"metadata": map[string]any{"annotations": map[string]any{spec.AnnPaused: nil, spec.AnnRetry: "v2@1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("patch = %s", body)
	}
	if d := describeChanges(map[string]*string{spec.AnnPaused: nil, spec.AnnRetry: ptr("v2@1")}); d != "sluice.dev/paused removed, sluice.dev/retry=v2@1" {
		t.Errorf("describeChanges = %q", d)
	}
}
