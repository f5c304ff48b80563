package cli

import (
	"encoding/json"
	"os"
	"regexp"
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
		"text": {args: []string{"status", "status-shown"}, check: contains("Progressing", "v1 → v2", "2/3, canary weight 25%", "StepComplete", "held 30s")},
		"json": {args: []string{"status", "status-shown", "-o", "json"}, check: func(t *testing.T, out string) {
			var ts sluicev1alpha1.TrafficShift
			if err := json.Unmarshal([]byte(out), &ts); err != nil {
				t.Fatalf("-o json is not a TrafficShift: %v\n%s", err, out)
			}
			if ts.Status.Canary != "v2" || ts.Status.Weight != 25 || ts.Kind != "TrafficShift" || ts.ManagedFields != nil {
				t.Errorf("-o json = %+v", ts)
			}
		}},
		"yaml":              {args: []string{"status", "status-shown", "-o", "yaml"}, check: contains("kind: TrafficShift", "canary: v2")},
		"jsonpath":          {args: []string{"status", "status-shown", "-o", "jsonpath={.status.phase}/{.status.weight}"}, check: equals("Progressing/25")},
		"go-template":       {args: []string{"status", "status-shown", "-o", "go-template={{.status.canary}}"}, check: equals("v2")},
		"name":              {args: []string{"status", "status-shown", "-o", "name"}, check: equals("trafficshift.sluice.dev/status-shown\n")},
		"bad -o":            {args: []string{"status", "status-shown", "-o", "text"}, code: ExitUsage, err: "unable to match a printer"},
		"no TrafficShift":   {args: []string{"status", "status-missing-shift"}, code: ExitFailed, err: "not picked the Service up"},
		"no such Service":   {args: []string{"status", "nope"}, code: ExitFailed, err: "not found"},
		"name and -A":       {args: []string{"status", "status-shown", "-A"}, code: ExitUsage, err: "do not go with a Service name"},
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
			if tc.code != 0 && r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
			if tc.check != nil {
				tc.check(t, r.stdout)
			}
		})
	}
}

// TestStatusListE2E lists opted-in Services in one namespace, with -A across several,
// with -l, -o wide and -o name.
func TestStatusListE2E(t *testing.T) {
	needCluster(t)
	createNamespace(t, "list-a")
	createNamespace(t, "list-b")
	createNamespace(t, "list-empty")
	gold := map[string]string{"tier": "gold"}
	promoted := mkStatus(sluicev1alpha1.PhasePromoted, "v2", "v2", 4, 100)
	promoted.LastDecision = &sluicev1alpha1.Decision{Action: "Promote", Reason: "StepsComplete", Message: "all steps held"}
	paused := mkStatus(sluicev1alpha1.PhasePaused, "v1", "v3", 1, 5)
	paused.PausedReason = "OperatorPause"
	paused.VirtualServices = []string{"cart", "cart-gw"}
	createServiceIn(t, "list-a", "cart", gold, nil, &paused)
	createServiceIn(t, "list-a", "search", nil, nil, &promoted)
	createServiceIn(t, "list-a", "fresh", nil, nil, nil)
	createServiceIn(t, "list-a", "not-opted-in", nil, map[string]string{spec.AnnEnabled: ""}, nil)
	createServiceIn(t, "list-b", "payments", gold, nil, &promoted)

	header := `^NAMESPACE\s+SERVICE\s+STABLE\s+CANARY\s+WEIGHT\s+STEP\s+PHASE\s+REASON\s+AGE$`
	cartRow := `^list-a\s+cart\s+v1\s+v3\s+5%\s+1/4\s+Paused\s+OperatorPause\s+\S+$`
	searchRow := `^list-a\s+search\s+v2\s+v2\s+100%\s+4/4\s+Promoted\s+StepsComplete\s+\S+$`
	freshRow := `^list-a\s+fresh\s+-\s+-\s+-\s+-\s+-\s+NoTrafficShiftYet\s+\S+$`
	paymentsRow := `^list-b\s+payments\s+v2\s+v2\s+100%\s+4/4\s+Promoted\s+StepsComplete\s+\S+$`
	kc := []string{"--kubeconfig", env.kubeconfig}
	tests := map[string]struct {
		args   []string
		lines  []string // regexps, each matching a line
		absent []string // substrings that must not appear
		exact  string
		stderr string
	}{
		"one namespace": {args: []string{"status", "-n", "list-a"}, lines: []string{header, cartRow, searchRow, freshRow}, absent: []string{"payments", "not-opted-in"}},
		"-A":            {args: []string{"status", "-A"}, lines: []string{header, cartRow, searchRow, freshRow, paymentsRow}, absent: []string{"not-opted-in"}},
		"-A -l":         {args: []string{"status", "-A", "-l", "tier=gold"}, lines: []string{cartRow, paymentsRow}, absent: []string{"search", "fresh"}},
		"wide": {args: []string{"status", "-n", "list-a", "-o", "wide"}, lines: []string{
			`^NAMESPACE\s+SERVICE\s+.*AGE\s+VIRTUALSERVICES\s+DATA PLANE\s+MESSAGE$`, `^list-a\s+cart\s+.*\s+cart,cart-gw\s+-\s+-$`, `^list-a\s+search\s+.*all steps held$`}},
		"-A -o name":      {args: []string{"status", "-A", "-l", "tier=gold", "-o", "name"}, exact: "trafficshift.sluice.dev/cart\ntrafficshift.sluice.dev/payments\n"},
		"-o jsonpath":     {args: []string{"status", "-n", "list-a", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.phase} {end}"}, exact: "cart=Paused search=Promoted "},
		"empty namespace": {args: []string{"status", "-n", "list-empty"}, exact: "No opted-in Services found in namespace list-empty.\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runKubectl(t, "", append(append([]string{"sluice"}, tc.args...), kc...)...)
			if r.code != 0 {
				t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if tc.exact != "" && r.stdout != tc.exact {
				t.Errorf("stdout = %q, want %q", r.stdout, tc.exact)
			}
			for _, re := range tc.lines {
				if !regexp.MustCompile(`(?m)` + re).MatchString(r.stdout) {
					t.Errorf("no line matching %s in:\n%s", re, r.stdout)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(r.stdout, a) {
					t.Errorf("stdout shows %q:\n%s", a, r.stdout)
				}
			}
		})
	}
}

// TestStatusWatchE2E follows TrafficShifts with stdout on a pipe: one line per change,
// none for a status write that changes nothing the line shows; Ctrl-C ends it with 0.
func TestStatusWatchE2E(t *testing.T) {
	needCluster(t)
	tests := map[string]struct {
		list bool
	}{"one Service": {}, "the namespace's list": {list: true}}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns := "watch-" + serviceName(name)
			createNamespace(t, ns)
			st := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 1, 5)
			createServiceIn(t, ns, "reviews", nil, map[string]string{spec.AnnCanary: "v2"}, &st)
			args := []string{"sluice", "status", "--watch", "-n", ns, "--kubeconfig", env.kubeconfig}
			if !tc.list {
				args = append(args, "reviews")
			}
			w := startKubectl(t, "", args...)
			lines := func() int { return strings.Count(w.stdout.String(), "\n") }
			eventually(t, "the first line", func() bool { return lines() >= 1 })

			// A new window only: nothing the line shows changes.
			windowOnly := st
			windowOnly.Window = &sluicev1alpha1.WindowStatus{Seconds: "10", Canary: &sluicev1alpha1.SubsetWindow{Subset: "v2", Requests: 40}}
			setStatusIn(t, ns, "reviews", windowOnly)
			step2 := mkStatus(sluicev1alpha1.PhaseProgressing, "v1", "v2", 2, 25)
			step2.LastDecision = &sluicev1alpha1.Decision{Action: "Advance", Reason: "StepComplete"}
			setStatusIn(t, ns, "reviews", step2)
			eventually(t, "the step-2 line", func() bool { return lines() >= 2 })
			setStatusIn(t, ns, "reviews", mkStatus(sluicev1alpha1.PhasePromoted, "v2", "v2", 4, 100))
			eventually(t, "the promoted line", func() bool { return lines() >= 3 })
			if err := w.cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			r := finish(t, w.done)
			if r.code != 0 {
				t.Errorf("exit code %d after Ctrl-C; stderr: %s", r.code, r.stderr)
			}
			got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			want := []string{"Progressing v1 → v2 step 1/4 weight 5%", "Progressing v1 → v2 step 2/4 weight 25%: StepComplete", "Promoted v2 → v2 step 4/4 weight 100%"}
			if len(got) != len(want) {
				t.Fatalf("%d lines, want %d (one per change):\n%s", len(got), len(want), r.stdout)
			}
			for i, l := range got {
				if !strings.Contains(l, want[i]) || strings.Contains(l, "\x1b") {
					t.Errorf("line %d = %q, want it to contain %q (and no terminal codes)", i, l, want[i])
				}
			}
		})
	}
}

func contains(want ...string) func(*testing.T, string) {
	return func(t *testing.T, out string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}
}

func equals(want string) func(*testing.T, string) {
	return func(t *testing.T, out string) {
		t.Helper()
		if out != want {
			t.Errorf("output = %q, want %q", out, want)
		}
	}
}
