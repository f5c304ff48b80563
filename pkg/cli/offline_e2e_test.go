package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

const istioFixtures = "../../testdata/istio"

// TestPlanE2E runs plan through kubectl on every VirtualService of the Istio fixtures,
// and on hostile input: a clear error on stderr, exit code 1, nothing on stdout.
func TestPlanE2E(t *testing.T) {
	needCluster(t)
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join(istioFixtures, name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostile := filepath.Join(t.TempDir(), "hostile.yaml")
	if err := os.WriteFile(hostile, []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews, subset: v1}\n      wieght: 100\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vs90, err := os.ReadFile(abs("virtual-service-reviews-90-10.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args   []string
		stdin  string
		code   int
		lines  []string // regexps matching lines of stdout
		stderr string
	}{
		"all-v1: four VirtualServices, each for its own host": {
			args:  []string{"-f", abs("virtual-service-all-v1.yaml"), "--canary", "v2", "--weight", "25"},
			lines: []string{`^VirtualService default/details \(document 4\): host details\.default\.svc\.cluster\.local, stable v1 \(read from the routes\)`, `^  http\[0\]\s+Managed\s+managed\s+100 → 75\s+0 → 25\s+-$`, `"op":"add","path":"/spec/http/0/route/1","value":\{"destination":\{"host":"ratings","subset":"v2"\},"weight":25\}`},
		},
		"90-10 to 50, from stdin": {
			args: []string{"-f", "-", "--stable", "v1", "--canary", "v2", "--weight", "50"}, stdin: string(vs90),
			lines: []string{`^  http\[0\]\s+Managed\s+managed\s+90 → 50\s+10 → 50`, `"op":"test","path":"/spec/http/0/route/1/weight","value":10`},
		},
		"jason-v2-v3: the pinned route left alone": {
			args:  []string{"-f", abs("virtual-service-reviews-jason-v2-v3.yaml"), "--canary", "v2", "--weight", "25"},
			lines: []string{`^  http\[0\]\s+Pinned\s+left alone\s+0\s+100\s+sends reviews only to subset\(s\) v2, not stable "v3"$`, `^  http\[1\]\s+Managed\s+managed\s+100 → 75`},
		},
		"ratings-test-abort -o yaml with --validate=warn: the fault survives": {
			args:   []string{"-f", abs("virtual-service-ratings-test-abort.yaml"), "--canary", "v2", "--weight", "25", "--validate=warn", "-o", "yaml"},
			lines:  []string{`^      abort:$`, `^        httpStatus: 500$`, `^      weight: 75$`, `^        subset: v2$`},
			stderr: `warning: document 1: VirtualService ratings: spec: unknown field "percent"`,
		},
		"ratings-test-abort strict: the deprecated field is refused": {
			args: []string{"-f", abs("virtual-service-ratings-test-abort.yaml"), "--canary", "v2", "--weight", "25"}, code: ExitFailed,
			stderr: `unknown field "percent" at spec.http[0].fault.abort.percent`,
		},
		"bookinfo gateway: the route has no subset": {
			args: []string{"-f", abs("bookinfo-gateway.yaml"), "--host", "productpage", "--stable", "v1", "--canary", "v2", "--weight", "25"}, code: ExitFailed,
			stderr: "http[0] left alone (sends to productpage without a subset)",
		},
		"promote, -o name": {
			args:  []string{"-f", abs("virtual-service-reviews-90-10.yaml"), "--stable", "v1", "--canary", "v2", "--promote", "-o", "name"},
			lines: []string{`^virtualservice\.networking\.istio\.io/reviews$`},
		},
		"hostile: unknown field": {
			args: []string{"-f", hostile, "--canary", "v2", "--weight", "5"}, code: ExitFailed, stderr: `unknown field "wieght" at spec.http[0].route[0].wieght`,
		},
		"hostile: invalid YAML": {
			args: []string{"-f", "-", "--canary", "v2", "--weight", "5"}, stdin: "kind: VirtualService\nspec: {http: [\n", code: ExitFailed, stderr: "invalid YAML",
		},
		"hostile: a host no route serves": {
			args: []string{"-f", abs("virtual-service-reviews-90-10.yaml"), "--host", "frontend", "--stable", "v1", "--canary", "v2", "--weight", "5"}, code: ExitFailed,
			stderr: "no http route of default/reviews sends to frontend",
		},
		"hostile: only DestinationRules": {
			args: []string{"-f", abs("destination-rule-all.yaml"), "--canary", "v2", "--weight", "5"}, code: ExitFailed, stderr: "no VirtualService in the input",
		},
		"usage: no weight":    {args: []string{"-f", hostile, "--canary", "v2"}, code: ExitUsage, stderr: "either --weight W or --promote"},
		"usage: no file":      {args: []string{"--canary", "v2", "--weight", "5"}, code: ExitUsage, stderr: "-f FILE"},
		"usage: missing file": {args: []string{"-f", "/nonexistent.yaml", "--canary", "v2", "--weight", "5"}, code: ExitFailed, stderr: "no such file"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runKubectl(t, tc.stdin, append([]string{"sluice", "plan"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, r.stderr)
			}
			if tc.code != 0 && r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
			for _, re := range tc.lines {
				if !regexp.MustCompile(`(?m)` + re).MatchString(r.stdout) {
					t.Errorf("no line matching %s in:\n%s", re, r.stdout)
				}
			}
			if strings.Contains(strings.Join(tc.args, " "), "-o yaml") {
				var obj map[string]any
				if err := yaml.Unmarshal([]byte(r.stdout), &obj); err != nil || obj["kind"] != "VirtualService" {
					t.Errorf("-o yaml is not the VirtualService: %v\n%s", err, r.stdout)
				}
			}
		})
	}
}

// TestStatsE2E: stats through kubectl, the side read when none is given, help.
func TestStatsE2E(t *testing.T) {
	needCluster(t)
	page, err := filepath.Abs("../../testdata/envoy/istio-1.5-sidecar-stats-prometheus.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		"a caller page without --side": {args: []string{"stats", page, "--host", "repo.mongodb.org"}, stdout: "unknown", stderr: "reading the source side"},
		"help stats":                   {args: []string{"help", "stats"}, stdout: "Without --side, the side the page has data for is read"},
		"stats --help":                 {args: []string{"stats", "--help"}, stdout: "Usage:\n  kubectl sluice stats FILE|URL|- [flags]"},
		"no input":                     {args: []string{"stats"}, code: ExitUsage, stderr: "stats reads one input"},
		"old -o table":                 {args: []string{"stats", page, "-o", "table"}, code: ExitUsage, stderr: "default now"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runKubectl(t, "", append([]string{"sluice"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d (want %d)\nstdout: %s (want %q)\nstderr: %s (want %q)", r.code, tc.code, r.stdout, tc.stdout, r.stderr, tc.stderr)
			}
		})
	}
}

// TestHelpE2E: one help convention, stdout and exit 0, for every command.
func TestHelpE2E(t *testing.T) {
	needCluster(t)
	for _, c := range []string{"", "status", "wait", "release", "history", "promote", "abort", "pause", "resume", "retry", "plan", "stats", "version", "completion"} {
		for _, form := range [][]string{{"help", c}, {c, "--help"}, {c, "-h"}} {
			args := []string{"sluice"}
			for _, a := range form {
				if a != "" {
					args = append(args, a)
				}
			}
			r := runKubectl(t, "", args...)
			if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:") {
				t.Errorf("kubectl %s: exit %d, stderr %q, stdout without Usage", strings.Join(args, " "), r.code, r.stderr)
			}
		}
	}
	r := runKubectl(t, "", "sluice", "stauts")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "Did you mean this?\n\tstatus") {
		t.Errorf("unknown command: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestCompletionE2E: the scripts, and kubectl's own completion of "kubectl sluice …"
// through the kubectl_complete-sluice helper on PATH.
func TestCompletionE2E(t *testing.T) {
	needCluster(t)
	createNamespace(t, "complete")
	st := mkStatus(sluicev1alpha1.PhaseIdle, "v1", "", 0, 0)
	createServiceIn(t, "complete", "reviews", nil, map[string]string{spec.AnnCanary: "v2"}, &st)
	createServiceIn(t, "complete", "ratings", nil, nil, nil)
	createServiceIn(t, "complete", "legacy", nil, map[string]string{spec.AnnEnabled: ""}, nil)
	tests := map[string]struct {
		args  []string
		want  []string // lines expected
		avoid []string // lines that must not appear
	}{
		"bash script": {args: []string{"sluice", "completion", "bash"}, want: []string{"__start_kubectl-sluice()"}},
		"zsh script":  {args: []string{"sluice", "completion", "zsh"}, want: []string{"#compdef kubectl-sluice"}},
		"fish script": {args: []string{"sluice", "completion", "fish"}, want: []string{"complete -c kubectl-sluice -e"}},
		"kubectl sluice <TAB>: the commands": {
			args: []string{"__complete", "sluice", ""}, want: []string{"status\tRollout state of one Service, or a table of every opted-in Service", "release\tStart a rollout: set the canary and the release context in one patch; --wait follows it", "plan\tShow the VirtualService patch sluice would write, offline"},
		},
		"kubectl sluice st<TAB>": {args: []string{"__complete", "sluice", "st"}, want: []string{"stats\tParse an Envoy/Istio stats page or config dump (no cluster needed)"}, avoid: []string{"wait\tBlock until the canary's rollout ends; the exit code says how"}},
		"kubectl sluice status <TAB>: the opted-in Services": {
			args: []string{"__complete", "sluice", "status", "--kubeconfig", env.kubeconfig, "-n", "complete", ""},
			want: []string{"ratings", "reviews\tcanary v2", ":4"}, avoid: []string{"legacy"},
		},
		"kubectl sluice release r<TAB>": {
			args: []string{"__complete", "sluice", "release", "--kubeconfig", env.kubeconfig, "-n", "complete", "rev"},
			want: []string{"reviews\tcanary v2"}, avoid: []string{"ratings"},
		},
		"kubectl sluice status -n <TAB>: namespaces": {
			args: []string{"__complete", "sluice", "status", "--kubeconfig", env.kubeconfig, "-n", "comp"}, want: []string{"complete"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runKubectl(t, "", tc.args...)
			if r.code != 0 {
				t.Fatalf("exit code %d: %s", r.code, r.stderr)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(r.stdout, "\n") {
				lines[l] = true
			}
			for _, w := range tc.want {
				if !lines[w] {
					t.Errorf("no line %q in:\n%s", w, r.stdout)
				}
			}
			for _, a := range tc.avoid {
				if lines[a] {
					t.Errorf("line %q should not be offered:\n%s", a, r.stdout)
				}
			}
		})
	}
}
