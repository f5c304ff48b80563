package cli

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// retryValue stands for "<canary>@<unix-nanos written during the command>" in expectations.
const retryValue = "v2@<now>"

func TestAnnotateE2E(t *testing.T) {
	needCluster(t)
	type st = sluicev1alpha1.TrafficShiftStatus
	progressing := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 2, 25)
	operatorPaused := st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", Step: 2, Weight: 25, PausedReason: operatorPause}
	guardPaused := st{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", Step: 2, Weight: 25, PausedReason: "GuardTripped"}
	rolledBack := mkStatus(sluicev1alpha1.PhaseRolledBack, "v1", "v2", 2, 0)
	promoted := mkStatus(sluicev1alpha1.PhasePromoted, "v2", "v2", 4, 100)
	paused := map[string]string{spec.AnnCanary: "v3", spec.AnnPaused: "true"}
	tests := map[string]struct {
		cmd    string
		ann    map[string]string
		status *st
		code   int
		want   map[string]*string // annotation changes; nil value = removed
		stderr string
	}{
		// The annotation already names the next release (v3): promote must name the one
		// under way (v2), never the next.
		"promote":                      {cmd: "promote", ann: map[string]string{spec.AnnCanary: "v3"}, status: &progressing, want: map[string]*string{spec.AnnPromote: ptr("v2")}},
		"promote with no rollout":      {cmd: "promote", status: &promoted, code: ExitFailed, stderr: "no rollout under way"},
		"abort a paused rollout":       {cmd: "abort", ann: paused, status: &guardPaused, want: map[string]*string{spec.AnnAbort: ptr("v2")}},
		"pause":                        {cmd: "pause", status: &progressing, want: map[string]*string{spec.AnnPaused: ptr("true")}},
		"resume an operator pause":     {cmd: "resume", ann: paused, status: &operatorPaused, want: map[string]*string{spec.AnnPaused: nil}},
		"resume a guard pause":         {cmd: "resume", ann: paused, status: &guardPaused, want: map[string]*string{spec.AnnPaused: nil, spec.AnnRetry: ptr(retryValue)}},
		"resume with nothing paused":   {cmd: "resume", status: &progressing, code: ExitFailed, stderr: "nothing to resume"},
		"retry a rollback":             {cmd: "retry", ann: map[string]string{spec.AnnRetry: "v2@1"}, status: &rolledBack, want: map[string]*string{spec.AnnRetry: ptr(retryValue)}},
		"retry while progressing":      {cmd: "retry", status: &progressing, code: ExitFailed, stderr: "must be RolledBack or Paused"},
		"promote without TrafficShift": {cmd: "promote", code: ExitFailed, stderr: "TrafficShift"},
		"pause without TrafficShift":   {cmd: "pause", want: map[string]*string{spec.AnnPaused: ptr("true")}},
		"not opted in":                 {cmd: "pause", ann: map[string]string{spec.AnnEnabled: ""}, code: ExitFailed, stderr: "not opted in"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := serviceName("annotate " + name)
			createService(t, svc, tc.ann, tc.status)
			before := getService(t, svc)
			start := time.Now()
			r := runCLI(t, tc.cmd, svc)
			end := time.Now()
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q: %s", tc.stderr, r.stderr)
			}
			after := getService(t, svc)
			got := annotationChanges(before.Annotations, after.Annotations)
			if retry := got[spec.AnnRetry]; retry != nil && tc.want[spec.AnnRetry] != nil && *tc.want[spec.AnnRetry] == retryValue {
				nanos, err := strconv.ParseInt(strings.TrimPrefix(*retry, "v2@"), 10, 64)
				if err != nil || !strings.HasPrefix(*retry, "v2@") || nanos < start.UnixNano() || nanos > end.UnixNano() {
					t.Errorf("retry = %q, want v2@<unix nanos between %d and %d>", *retry, start.UnixNano(), end.UnixNano())
				}
				got[spec.AnnRetry] = ptr(retryValue)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("annotation changes = {%s}, want {%s}", describeChanges(got), describeChanges(tc.want))
			}
			if !sameExceptAnnotations(before, after) {
				t.Errorf("the command changed more than annotations:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// annotationChanges returns what differs from before to after (nil value = removed).
func annotationChanges(before, after map[string]string) map[string]*string {
	out := map[string]*string{}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			out[k] = ptr(v)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k] = nil
		}
	}
	return out
}

// sameExceptAnnotations compares two versions of a Service, ignoring the annotations and
// the bookkeeping the API server changes on every write.
func sameExceptAnnotations(a, b *corev1.Service) bool {
	clean := func(s *corev1.Service) *corev1.Service {
		s = s.DeepCopy()
		s.Annotations, s.ResourceVersion, s.ManagedFields = nil, "", nil
		return s
	}
	return reflect.DeepEqual(clean(a), clean(b))
}
