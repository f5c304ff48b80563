package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// slowTickPolicy creates a ShiftPolicy with a 3 s tick, so that a recheck (a fifth of it)
// is far from a regular tick.
func slowTickPolicy(t *testing.T, name string) {
	t.Helper()
	policy := &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       sluicev1alpha1.ShiftPolicySpec{Interval: &metav1.Duration{Duration: 3 * time.Second}},
	}
	scenario.Must(t, env.Client.Create(context.Background(), policy))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })
}

// Fresh canary failures that are suspicious but not yet significant make sluice look again
// sooner (sluice_guard_rechecks_total counts those ticks); a clean canary never does.
func TestRechecksFollowFreshFailures(t *testing.T) {
	slowTickPolicy(t, "e2e-slow-tick-recheck")
	leaning := newRollout(t, "recheck", 200, "")
	clean := newRollout(t, "norecheck", 200, "")
	// 30 % errors against a 20 % limit, and more minimum requests than the canary gets:
	// the canary trips only when its rate's lower bound at 99.9 % clears 20 %, which takes
	// far more requests than its failures take to look suspicious (recheck.go).
	leaning.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 0.3})
	for _, s := range []*rollout{leaning, clean} {
		ann := fastRollout("v2")
		ann["sluice.dev/policy"] = "e2e-slow-tick-recheck"
		ann["sluice.dev/max-error-rate"] = "20%"
		ann["sluice.dev/min-requests"] = "100000"
		ann["sluice.dev/step-duration"] = "10m"
		s.Annotate(ann)
	}
	deadline := time.Now().Add(45 * time.Second)
	for rechecks(leaning) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no recheck for a canary over its limit within 45s; status %s", scenario.StatusJSON(leaning.TS()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("rechecks: %v for the canary over its limit; its last decision: %s", rechecks(leaning), scenario.StatusJSON(leaning.TS()))
	if ts := clean.TS(); ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Window == nil || ts.Status.Window.Canary == nil || ts.Status.Window.Canary.Requests == 0 {
		t.Fatalf("the clean canary should be progressing with traffic: %s", scenario.StatusJSON(ts))
	}
	if n := rechecks(clean); n != 0 {
		t.Fatalf("a canary without failures was rechecked %v times", n)
	}
}

// rechecks reads sluice_guard_rechecks_total for s's Service from the controller's registry.
func rechecks(s *rollout) float64 {
	s.T.Helper()
	mfs, err := ctrlRun.Metrics.Gather()
	scenario.Must(s.T, err)
	for _, mf := range mfs {
		if mf.GetName() != "sluice_guard_rechecks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] == s.NS && labels["service"] == s.Svc {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
