package cli

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// TestReleaseE2E checks the annotations release writes (one patch: the canary, the
// release context, stale context removed) and its argument checks. release --wait's exit
// codes are checked with wait's in TestWaitE2E.
func TestReleaseE2E(t *testing.T) {
	needCluster(t)
	stale := map[string]string{spec.AnnCanary: "v1", AnnReleaseCommit: "old", AnnReleaseURL: "https://ci.example.com/1", "sluice.dev/release-ticket": "OPS-1"}
	tests := map[string]struct {
		ann    map[string]string
		args   []string
		code   int
		want   map[string]*string // annotation changes; nil value = removed
		stdout string
		stderr string
	}{
		"canary and full context": {
			args:   []string{"--canary", "v2", "--commit", "0123abc", "--pipeline", "4711", "--url", "https://ci.example.com/runs/4711", "--by", "ci-bot"},
			want:   map[string]*string{spec.AnnCanary: ptr("v2"), spec.AnnReleaseCanary: ptr("v2"), AnnReleaseCommit: ptr("0123abc"), AnnReleasePipeline: ptr("4711"), AnnReleaseURL: ptr("https://ci.example.com/runs/4711"), AnnReleaseBy: ptr("ci-bot")},
			stdout: "service/",
		},
		"stale context removed in the same patch": {
			ann: stale, args: []string{"--canary", "v2", "--commit", "0ddba11"},
			want:   map[string]*string{spec.AnnCanary: ptr("v2"), spec.AnnReleaseCanary: ptr("v2"), AnnReleaseCommit: ptr("0ddba11"), AnnReleaseURL: nil, "sluice.dev/release-ticket": nil},
			stdout: "sluice.dev/release-url removed",
		},
		"no canary":     {args: []string{"--commit", "x"}, code: ExitError, stderr: "--canary must name a subset"},
		"bad url":       {args: []string{"--canary", "v2", "--url", "ci/run/1"}, code: ExitError, stderr: "absolute http(s) URL"},
		"control chars": {args: []string{"--canary", "v2", "--by", "a\nb"}, code: ExitError, stderr: "control characters"},
		"not a commit":  {args: []string{"--canary", "v2", "--commit", "release-1.4"}, code: ExitError, stderr: "sluice.dev/release-commit: \"release-1.4\" is not a commit"},
		"not opted in":  {ann: map[string]string{spec.AnnEnabled: ""}, args: []string{"--canary", "v2"}, code: ExitError, stderr: "not opted in"},
		"unknown flag":  {args: []string{"--canary", "v2", "--sha", "x"}, code: ExitError, stderr: "unknown flag: --sha"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			svc := serviceName("rel-args " + name)
			createService(t, svc, tc.ann, nil)
			before := getService(t, svc)
			r := runCLI(t, append([]string{"release", svc}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.stderr) || !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("stdout %q / stderr %q lack %q / %q", r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
			after := getService(t, svc)
			got := annotationChanges(before.Annotations, after.Annotations)
			if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
				t.Errorf("annotation changes = {%s}, want {%s}", describeChanges(got), describeChanges(tc.want))
			}
		})
	}
}

// TestReleaseOnePatch watches the Service while release runs: exactly one modification,
// carrying the canary and its context together.
func TestReleaseOnePatch(t *testing.T) {
	needCluster(t)
	createService(t, "release-one-patch", map[string]string{spec.AnnCanary: "v1", AnnReleaseBy: "someone"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wc, err := client.NewWithWatch(env.c.Config, client.Options{Scheme: env.c.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	w, err := wc.Watch(ctx, &corev1.ServiceList{}, &client.ListOptions{Namespace: env.ns, FieldSelector: fields.OneTermEqualSelector("metadata.name", "release-one-patch")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r := runCLI(t, "release", "release-one-patch", "--canary", "v2", "--commit", "c0ffee1")
	if r.code != 0 {
		t.Fatalf("release failed: %d %s", r.code, r.stderr)
	}
	var mods []map[string]string
	timeout := time.After(2 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-w.ResultChan():
			if svc, ok := ev.Object.(*corev1.Service); ok && ev.Type == "MODIFIED" {
				mods = append(mods, svc.Annotations)
			}
		case <-timeout:
			done = true
		}
	}
	if len(mods) != 1 {
		t.Fatalf("%d writes of the Service, want 1: %v", len(mods), mods)
	}
	a := mods[0]
	if a[spec.AnnCanary] != "v2" || a[AnnReleaseCommit] != "c0ffee1" || a[AnnReleaseBy] != "" {
		t.Errorf("the one write has %v", a)
	}
}

func TestHistoryE2E(t *testing.T) {
	needCluster(t)
	start := metav1.NewTime(time.Now().Add(-10 * time.Minute).Truncate(time.Second))
	end := metav1.NewTime(start.Add(4*time.Minute + 30*time.Second))
	st := mkStatus(sluicev1alpha1.PhaseIdle, "v2", "", 0, 0)
	st.History = []sluicev1alpha1.RolloutRecord{
		{Canary: "v2", Stable: "v1", Result: sluicev1alpha1.PhasePromoted, Reason: "StepsComplete", Message: "all 4 steps held", StartedAt: &start, FinishedAt: &end},
		{Canary: "v3", Stable: "v1", Result: sluicev1alpha1.PhaseRolledBack, Reason: "ErrorRateTooHigh", Message: "canary 5xx 9%"},
	}
	createService(t, "history-shown", nil, &st)
	createService(t, "history-empty", nil, &sluicev1alpha1.TrafficShiftStatus{Phase: sluicev1alpha1.PhaseIdle, Stable: "v1"})
	tests := map[string]struct {
		args  []string
		code  int
		check func(*testing.T, string)
		err   string
	}{
		"table": {args: []string{"history", "history-shown"}, check: contains(
			"CANARY", "DURATION", "v2      v1      Promoted", "StepsComplete", "4m30s", "all 4 steps held", "v3", "RolledBack", "ErrorRateTooHigh")},
		"json":       {args: []string{"history", "history-shown", "-o", "json"}, check: contains(`"canary": "v2"`, `"result": "RolledBack"`)},
		"empty":      {args: []string{"history", "history-empty"}, check: equals("No finished rollouts recorded yet.\n")},
		"bad -o":     {args: []string{"history", "history-shown", "-o", "wide"}, code: ExitUsage, err: "-o must be json or yaml"},
		"no Service": {args: []string{"history", "nope"}, code: ExitFailed, err: "not found"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runCLI(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.err) {
				t.Fatalf("exit code %d (want %d), stderr %q (want %q)\nstdout: %s", r.code, tc.code, r.stderr, tc.err, r.stdout)
			}
			if tc.check != nil {
				tc.check(t, r.stdout)
			}
		})
	}
}

func TestVersionE2E(t *testing.T) {
	needCluster(t)
	createNamespace(t, "sluice-system")
	labels := map[string]string{"app.kubernetes.io/name": "sluice"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "sluice", Namespace: "sluice-system"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "sluice", Image: "ghcr.io/sluicedev/sluice:v0.1.0"}}},
			},
		},
	}
	if err := env.c.Client.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		args []string
		want []string
	}{
		"controller found":   {args: []string{"sluice", "version", "--kubeconfig", env.kubeconfig}, want: []string{"Plugin:", "Controller: v0.1.0 (deployment sluice-system/sluice, image ghcr.io/sluicedev/sluice:v0.1.0)"}},
		"json":               {args: []string{"sluice", "version", "--kubeconfig", env.kubeconfig, "-o", "json"}, want: []string{`"plugin": {`, `"version": "v0.1.0"`}},
		"no such Deployment": {args: []string{"sluice", "version", "--kubeconfig", env.kubeconfig, "--controller-namespace", "elsewhere"}, want: []string{"Controller: unknown (reading Deployment elsewhere/sluice"}},
		"no cluster":         {args: []string{"sluice", "version", "--kubeconfig", "/nonexistent"}, want: []string{"Plugin:", "Controller: unknown ("}},
		"--version":          {args: []string{"sluice", "--version"}, want: []string{"kubectl-sluice "}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := runKubectl(t, "", tc.args...)
			if r.code != 0 {
				t.Fatalf("exit code %d: %s", r.code, r.stderr)
			}
			contains(tc.want...)(t, r.stdout)
		})
	}
}
