package e2e

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// A ShiftPolicy with statsSource Prometheus: a real Prometheus scrapes the stand-ins every
// second and sluice reads per-subset counts through PromQL. A healthy canary is promoted,
// a bad one rolled back (slower than reading Envoy: the scrape interval is in the loop).
func TestPrometheusSource(t *testing.T) {
	if prom == nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Prometheus is required in CI (make test installs it)")
		}
		t.Skip("no Prometheus binary; run hack/install-debs.sh")
	}
	policy := &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-prometheus"},
		Spec: sluicev1alpha1.ShiftPolicySpec{
			StatsSource:  sluicev1alpha1.StatsSourcePrometheus,
			Steps:        []sluicev1alpha1.Step{{Weight: 20}, {Weight: 100}},
			DefaultDwell: &metav1.Duration{Duration: 3 * time.Second},
			Guard:        &sluicev1alpha1.Guard{MinRequests: ptr.To[int32](10)},
		},
	}
	scenario.Must(t, env.Client.Create(context.Background(), policy))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })
	s := newRollout(t, "prom", 200, "")
	var targets []string
	for _, pods := range s.Pods {
		for _, p := range pods {
			targets = append(targets, net.JoinHostPort(p.Status.PodIP, "15090"))
		}
	}
	scenario.Must(t, prom.SetTargets(s.NS, targets))
	t.Cleanup(func() { _ = prom.SetTargets(s.NS, nil) })

	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/policy": "e2e-prometheus"})
	ts := s.WaitTS(60*time.Second, "Promoted through Prometheus", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	h := ts.Status.History[0]
	if h.Canary != "v2" || h.Result != sluicev1alpha1.PhasePromoted {
		t.Fatalf("history: %s", scenario.StatusJSON(ts))
	}

	wl := s.WatchWeights("reviews")
	s.Fleet.SetBehaviour("v3", standin.SubsetBehaviour{ErrorRate: 0.5})
	s.Annotate(map[string]string{"sluice.dev/canary": "v3"})
	ts = s.WaitTS(60*time.Second, "v3 rolled back through Prometheus", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Canary == "v3" && ts.Status.Phase == sluicev1alpha1.PhaseRolledBack
	})
	if ts.Status.LastDecision.Reason != "ErrorRate" || ts.Status.Window == nil || ts.Status.Window.Canary.Errors == 0 {
		t.Fatalf("rollback should rest on the errors Prometheus saw: %s", scenario.StatusJSON(ts))
	}
	if on, ok := wl.FirstAbove(time.Time{}, "v3"); ok {
		if off, ok := wl.FirstAfter(on, "v3", 0); ok {
			t.Logf("Prometheus source: first v3 traffic → canary weight 0: %s", off.Sub(on).Round(time.Millisecond))
		}
	}
}
