package cli

import (
	"context"
	"strings"
	"testing"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

func TestWaitE2E(t *testing.T) {
	needCluster(t)
	type st = sluicev1alpha1.TrafficShiftStatus
	progressing := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 1, 5)
	invalid := st{Phase: sluicev1alpha1.PhaseInvalid, Stable: "v1", LastDecision: &sluicev1alpha1.Decision{Reason: "SubsetNotFound", Message: `subset "v2" is not defined`}}
	rolledBack := mkStatus(sluicev1alpha1.PhaseRolledBack, "v1", "v2", 2, 0)
	rolledBack.LastDecision = &sluicev1alpha1.Decision{Action: "Rollback", Reason: "ErrorRateTooHigh", Message: "canary 5xx 9%"}
	tests := map[string]struct {
		ann     map[string]string
		initial *st  // nil: no TrafficShift when the wait starts
		updates []st // written one by one once the wait has printed its first progress line
		args    []string
		code    int
		stdout  []string // lines expected on stdout (in order)
		stderr  string
		// deleteShift deletes the TrafficShift once the wait reported it.
		deleteShift bool
		// noRelease: the case is about wait's own flags or the annotation it reads, so it
		// is not repeated as release --wait.
		noRelease bool
	}{
		"promoted": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &progressing,
			updates: []st{mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 2, 25), mkStatus(sluicev1alpha1.PhasePromoted, "v2", "v2", 4, 100)},
			code:    ExitPromoted,
			stdout:  []string{"Progressing v1 → v2 step 1/4 weight 5%", "Progressing v1 → v2 step 2/4 weight 25%", "Promoted v2 → v2 step 4/4 weight 100%", `canary "v2" promoted`},
		},
		"rolled back": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &progressing, updates: []st{rolledBack},
			code: ExitRolledBack, stderr: "ErrorRateTooHigh: canary 5xx 9%",
		},
		"timeout": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &progressing, args: []string{"--timeout", "1s"},
			code: ExitTimeout, stderr: "timed out",
		},
		"an earlier promoted of another canary does not end the wait": {
			ann:     map[string]string{spec.AnnCanary: "v3"},
			initial: &st{Phase: sluicev1alpha1.PhasePromoted, Stable: "v2", Canary: "v2", Step: 4, Weight: 100},
			updates: []st{mkStatus(sluicev1alpha1.PhaseProgressing, "v2", "v3", 1, 5), mkStatus(sluicev1alpha1.PhasePromoted, "v3", "v3", 4, 100)},
			code:    ExitPromoted,
			stdout:  []string{"Promoted v2 → v2", "Progressing v2 → v3 step 1/4", "Promoted v3 → v3", `canary "v3" promoted`},
		},
		"an earlier rollback of another canary does not end the wait": {
			ann: map[string]string{spec.AnnCanary: "v3"}, initial: &rolledBack, args: []string{"--timeout", "1500ms"},
			code: ExitTimeout,
		},
		"--canary overrides the annotation": {
			ann: map[string]string{spec.AnnCanary: "v9"}, initial: &progressing, args: []string{"--canary", "v2"},
			updates: []st{mkStatus(sluicev1alpha1.PhasePromoted, "v2", "v2", 4, 100)},
			code:    ExitPromoted, noRelease: true,
		},
		"invalid written during the wait": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &st{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1"}, updates: []st{invalid},
			code: ExitInvalid, stderr: "SubsetNotFound",
		},
		"invalid found at the start counts after the grace": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &invalid, args: []string{"--invalid-grace", "300ms"},
			code: ExitInvalid, stderr: "SubsetNotFound",
		},
		"paused with --fail-on-pause": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &progressing, args: []string{"--fail-on-pause"},
			updates: []st{{Phase: sluicev1alpha1.PhasePaused, Stable: "v1", Canary: "v2", Step: 1, Weight: 5, PausedReason: "OperatorPause"}},
			code:    ExitPaused, stderr: "OperatorPause",
		},
		"TrafficShift created during the wait": {
			ann: map[string]string{spec.AnnCanary: "v2"}, updates: []st{progressing, mkStatus(sluicev1alpha1.PhasePromoted, "v2", "v2", 4, 100)},
			code: ExitPromoted, stdout: []string{"no TrafficShift yet", "Promoted"},
		},
		"not opted in": {
			ann: map[string]string{spec.AnnEnabled: "", spec.AnnCanary: "v2"}, initial: &progressing,
			code: ExitError, stderr: "not opted in",
		},
		"no canary to wait for": {
			initial: &progressing, code: ExitError, stderr: "name the subset with --canary", noRelease: true,
		},
		"TrafficShift deleted during the wait": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &progressing, deleteShift: true,
			code: ExitError, stderr: "was deleted",
		},
		"bad arguments": {
			ann: map[string]string{spec.AnnCanary: "v2"}, initial: &progressing, args: []string{"--timeout", "-1s"},
			code: ExitError, stderr: "must not be negative",
		},
	}
	for name, tc := range tests {
		for _, mode := range []string{"wait", "release"} {
			if mode == "release" && tc.noRelease {
				continue
			}
			t.Run(mode+"/"+name, func(t *testing.T) {
				t.Parallel()
				svc := serviceName(mode + " " + name)
				createService(t, svc, tc.ann, tc.initial)
				args := append([]string{"wait", svc}, tc.args...)
				before := 1 // "waiting for …"
				if mode == "release" {
					args = append([]string{"release", svc, "--canary", tc.ann[spec.AnnCanary], "--wait"}, tc.args...)
					before = 2 // "service/… annotated", "waiting for …"
				}
				if !strings.Contains(strings.Join(tc.args, " "), "--timeout") {
					args = append(args, "--timeout", "30s")
				}
				stdout, done := startCLI(t, args...)
				for i, u := range tc.updates {
					eventually(t, "the wait to report the previous state", func() bool { return strings.Count(stdout.String(), "\n") >= before+1+i })
					if i == 0 && tc.initial == nil {
						createShift(t, svc, u)
						continue
					}
					setStatus(t, svc, u)
				}
				if tc.deleteShift {
					eventually(t, "the wait to report the state", func() bool { return strings.Count(stdout.String(), "\n") >= before+1 })
					ts := &sluicev1alpha1.TrafficShift{}
					ts.Namespace, ts.Name = env.ns, svc
					if err := env.c.Client.Delete(context.Background(), ts); err != nil {
						t.Fatal(err)
					}
				}
				r := finish(t, done)
				if r.code != tc.code {
					t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
				}
				rest := r.stdout
				for _, want := range tc.stdout {
					i := strings.Index(rest, want)
					if i < 0 {
						t.Fatalf("stdout lacks %q (in order):\n%s", want, r.stdout)
					}
					rest = rest[i+len(want):]
				}
				if !strings.Contains(r.stderr, tc.stderr) {
					t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
				}
				if mode == "release" && tc.code != ExitError {
					if got := getService(t, svc).Annotations[spec.AnnCanary]; got != tc.ann[spec.AnnCanary] {
						t.Errorf("release left sluice.dev/canary = %q", got)
					}
				}
			})
		}
	}
}

// serviceName turns a test name into a DNS label.
func serviceName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	name := b.String()
	return strings.Trim(name[:min(50, len(name))], "-")
}
