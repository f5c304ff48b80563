package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
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
//
// The failures are placed exactly, so that the canary neither trips nor goes unnoticed
// whatever the timing: the leaning Service gets no generated traffic, only a burst of 200
// stable successes and 18 canary successes and 12 failures, 40 % against a 20 % limit.
// P(X ≥ 12 | 30, 0.2) = 0.0095: under the recheck level (0.05), far above the guard's
// (0.1 % shared by its windows). (Generated traffic at 30 % errors made this test flaky
// both ways: the canary sometimes tripped at once, before any recheck.)
func TestRechecksFollowFreshFailures(t *testing.T) {
	slowTickPolicy(t, "e2e-slow-tick-recheck")
	leaning := newRollout(t, "recheck", 0, "")
	clean := newRollout(t, "norecheck", 200, "")
	for _, s := range []*rollout{leaning, clean} {
		ann := fastRollout("v2")
		ann["sluice.dev/policy"] = "e2e-slow-tick-recheck"
		ann["sluice.dev/max-error-rate"] = "20%"
		ann["sluice.dev/min-requests"] = "100000"
		ann["sluice.dev/step-duration"] = "10m"
		s.Annotate(ann)
	}
	leaning.WaitTS(30*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5
	})
	if n := rechecks(leaning); n != 0 {
		t.Fatalf("rechecked %v times before any failure", n)
	}
	for _, b := range []struct {
		subset  string
		code, n int
	}{{"v1", 200, 200}, {"v2", 200, 18}, {"v2", 503, 12}} {
		if got := leaning.Fleet.Send(b.subset, b.code, b.n); got != b.n {
			t.Fatalf("sent %d of %d requests to %s", got, b.n, b.subset)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for rechecks(leaning) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no recheck within 20s of a burst of canary failures over the limit; status %s", scenario.StatusJSON(leaning.TS()))
		}
		time.Sleep(200 * time.Millisecond)
	}
	ts := leaning.TS()
	t.Logf("rechecks: %v after the burst, phase %s", rechecks(leaning), ts.Status.Phase)
	if ts.Status.Phase != sluicev1alpha1.PhaseProgressing {
		t.Fatalf("a burst short of significance must not end the rollout: %s", scenario.StatusJSON(ts))
	}
	clean.WaitTS(15*time.Second, "the clean canary progressing with traffic in its window", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Window != nil && ts.Status.Window.Canary != nil && ts.Status.Window.Canary.Requests > 0
	})
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
