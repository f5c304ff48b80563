package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Removing the opt-in during a rollout sends all traffic back to stable, then sluice
// stops managing the Service (its TrafficShift is deleted).
func TestOptOutReturnsTrafficToStable(t *testing.T) {
	s := newRollout(t, "optout", 200, "")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(20*time.Second, "step 2", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	s.Annotate(map[string]string{"sluice.dev/enabled": ""})
	deadline := time.Now().Add(10 * time.Second)
	for s.TS() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("TrafficShift still present after opt-out: %s", scenario.StatusJSON(s.TS()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if w := s.Weights("reviews"); len(w) != 1 || w["v1"] != 100 {
		t.Fatalf("after opt-out the route must hold v1 alone, got %v", w)
	}
	// Not managed any more: a new canary annotation does nothing.
	s.Annotate(map[string]string{"sluice.dev/canary": "v3"})
	time.Sleep(2 * time.Second)
	if w := s.Weights("reviews"); len(w) != 1 || w["v1"] != 100 {
		t.Fatalf("sluice acted on an opted-out Service: %v", w)
	}
}

// A ShiftPolicy drives the schedule; a canary without readable stats is reported
// (Observable=False, StatsUnavailable) and, after the policy's unobservable timeout,
// paused — never advanced on missing data.
func TestPolicyAndUnobservableCanary(t *testing.T) {
	policy := &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-quick"},
		Spec: sluicev1alpha1.ShiftPolicySpec{
			Steps:               []sluicev1alpha1.Step{{Weight: 10}, {Weight: 100}},
			DefaultDwell:        &metav1.Duration{Duration: time.Second},
			UnobservableTimeout: &metav1.Duration{Duration: 2 * time.Second},
			Guard:               &sluicev1alpha1.Guard{MinRequests: ptr.To[int32](10)},
		},
	}
	scenario.Must(t, env.Client.Create(context.Background(), policy))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })
	routing := strings.Replace(scenario.Routing, "  - {name: v3, labels: {version: v3}}\n", "  - {name: v3, labels: {version: v3}}\n  - {name: v4, labels: {version: v4}}\n", 1)
	s := newRollout(t, "policy", 200, routing)
	s.podWithoutStats("v4", "127.0.254.1") // Ready, so the rollout starts, but nothing serves its stats
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v4", "sluice.dev/policy": "e2e-quick"})
	ts := s.WaitTS(15*time.Second, "Paused (unobservable)", scenario.PhaseIs(sluicev1alpha1.PhasePaused))
	if ts.Status.Weight != 10 || ts.Status.Step != 1 {
		t.Fatalf("policy schedule not applied or advanced without data: %s", scenario.StatusJSON(ts))
	}
	if ts.Status.LastDecision == nil || ts.Status.LastDecision.Reason != "Unobservable" {
		t.Fatalf("want an Unobservable pause, got %s", scenario.StatusJSON(ts))
	}
	c := meta.FindStatusCondition(ts.Status.Conditions, sluicev1alpha1.ConditionObservable)
	if c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, `"v4"`) {
		t.Fatalf("Observable condition: %+v", c)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "StatsUnavailable", `"v4"`)
}

// `kubectl get trafficshifts` prints the columns users and CI read.
func TestKubectlGetTrafficShifts(t *testing.T) {
	s := newRollout(t, "kubectl", 200, "")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(20*time.Second, "step 1", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight >= 5 })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	scenario.Must(t, env.Kubeconfig(kubeconfig))
	out, err := exec.Command(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"), "--kubeconfig", kubeconfig,
		"get", "trafficshifts", "-n", s.NS).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get trafficshifts: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	header := strings.Fields(lines[0])
	want := []string{"NAME", "STABLE", "CANARY", "WEIGHT", "STEP", "PHASE", "AGE"}
	if strings.Join(header, " ") != strings.Join(want, " ") {
		t.Fatalf("columns %v, want %v", header, want)
	}
	row := strings.Fields(lines[1])
	if row[0] != "reviews" || row[1] != "v1" || row[2] != "v2" || row[5] != "Progressing" {
		t.Fatalf("row %v", row)
	}
}
