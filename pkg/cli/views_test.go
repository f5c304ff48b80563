package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/spec"
)

func TestRenderTable(t *testing.T) {
	svc := func(ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: *ago(time.Hour)}}
	}
	ts := progressingShift()
	ts.CreationTimestamp = *ago(2 * time.Hour)
	paused := progressingShift()
	paused.Status.Phase, paused.Status.PausedReason = sluicev1alpha1.PhasePaused, "GuardTripped"
	rows := []row{
		{svc: svc("shop", "reviews"), ts: ts, steps: schedule.Default(time.Second, 1)},
		{svc: svc("shop", "cart"), ts: paused},
		{svc: svc("web", "new")},
	}
	tests := map[string]struct {
		wide  bool
		lines []string
	}{
		"table": {lines: []string{
			`^NAMESPACE\s+SERVICE\s+STABLE\s+CANARY\s+WEIGHT\s+STEP\s+PHASE\s+REASON\s+AGE$`,
			`^shop\s+reviews\s+v1\s+v2\s+25%\s+2/4\s+Progressing\s+StepComplete\s+120m$`,
			`^shop\s+cart\s+v1\s+v2\s+25%\s+2\s+Paused\s+GuardTripped\s+`,
			`^web\s+new\s+-\s+-\s+-\s+-\s+-\s+NoTrafficShiftYet\s+60m$`,
		}},
		"wide": {wide: true, lines: []string{
			`AGE\s+VIRTUALSERVICES\s+DATA PLANE\s+MESSAGE$`,
			`^shop\s+reviews\s+.*\s+reviews\s+-\s+step 1 held 30s with 120 requests$`,
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := renderTable(&b, rows, tc.wide, renderNow); err != nil {
				t.Fatal(err)
			}
			for _, re := range tc.lines {
				if !regexp.MustCompile(`(?m)` + re).MatchString(b.String()) {
					t.Errorf("no line matching %s in:\n%s", re, b.String())
				}
			}
		})
	}
}

func TestRenderLive(t *testing.T) {
	ts := progressingShift()
	ts.Status.DataPlane = &sluicev1alpha1.DataPlaneStatus{Weight: 25, Callers: 2, Applied: 2, PropagationSeconds: "0.112", AppliedAt: &metav1.MicroTime{}}
	decisions := []sluicev1alpha1.Decision{*ts.Status.LastDecision, {Action: "Advance", Reason: "RolloutStarted", Time: ago(3 * time.Minute)}}
	var b bytes.Buffer
	if err := renderLive(&b, ts, schedule.Default(time.Second, 1), decisions, renderNow); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"shop/reviews", "Progressing", "v1 → v2", "5% → [25%] → 50% → 100%", "canary weight 25%, step 2/4",
		"applied by 2 caller(s) 0.112s after the write", "canary  v2", "0.00%", "11ms",
		"Decisions (newest first):", "90s ago", "StepComplete", "3m ago", "RolloutStarted",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("live view lacks %q:\n%s", want, b.String())
		}
	}
}

func TestReleaseChanges(t *testing.T) {
	tests := map[string]struct {
		o    releaseOptions
		want map[string]*string
		err  string
	}{
		"canary only: the context keys are removed": {
			o:    releaseOptions{canary: "v2"},
			want: map[string]*string{spec.AnnCanary: ptr("v2"), spec.AnnReleaseCanary: ptr("v2"), AnnReleaseCommit: nil, AnnReleasePipeline: nil, AnnReleaseURL: nil, AnnReleaseBy: nil},
		},
		"full": {
			o:    releaseOptions{canary: "v2", commit: "abc1234", pipeline: "7", url: "https://ci.example.com/7", by: "me"},
			want: map[string]*string{spec.AnnCanary: ptr("v2"), spec.AnnReleaseCanary: ptr("v2"), AnnReleaseCommit: ptr("abc1234"), AnnReleasePipeline: ptr("7"), AnnReleaseURL: ptr("https://ci.example.com/7"), AnnReleaseBy: ptr("me")},
		},
		"no canary":      {o: releaseOptions{}, err: "--canary"},
		"canary list":    {o: releaseOptions{canary: "v2,v3"}, err: "no spaces or commas"},
		"relative url":   {o: releaseOptions{canary: "v2", url: "/runs/7"}, err: "absolute http(s) URL"},
		"javascript url": {o: releaseOptions{canary: "v2", url: "javascript:alert(1)"}, err: "absolute http(s) URL"},
		"newline":        {o: releaseOptions{canary: "v2", commit: "a\nb"}, err: "control characters"},
		"huge":           {o: releaseOptions{canary: "v2", by: strings.Repeat("x", 3000)}, err: "at most 2048"},
		"short commit":   {o: releaseOptions{canary: "v2", commit: "abc"}, err: "a commit hash of 7 to 64 hexadecimal digits"},
		"long by":        {o: releaseOptions{canary: "v2", by: strings.Repeat("x", 300)}, err: "printable text of 1 to 256 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.o.changes()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if describeChanges(got) != describeChanges(tc.want) {
				t.Errorf("changes = {%s}, want {%s}", describeChanges(got), describeChanges(tc.want))
			}
		})
	}
}

func TestImageTag(t *testing.T) {
	for image, want := range map[string]string{
		"ghcr.io/sluicedev/sluice:v0.1.0":    "v0.1.0",
		"registry:5000/sluice:v1":            "v1",
		"registry:5000/sluice":               "",
		"sluice@sha256:abc":                  "sha256:abc",
		"registry:5000/sluice:v2@sha256:abc": "v2",
		"":                                   "",
	} {
		if got := imageTag(image); got != want {
			t.Errorf("imageTag(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestContextText(t *testing.T) {
	r := map[string]any{"canary": "v2", "result": "Promoted", "release": map[string]any{"commit": "abc", "by": "ci"}, "images": "reviews:1.5"}
	if got, want := contextText(r), "images=reviews:1.5 release.by=ci release.commit=abc"; got != want {
		t.Errorf("contextText = %q, want %q", got, want)
	}
}
