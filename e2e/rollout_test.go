package e2e

import (
	"slices"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// fastRollout are annotations that keep steps short for tests.
func fastRollout(canary string) map[string]string {
	return map[string]string{
		"sluice.dev/enabled":       "true",
		"sluice.dev/canary":        canary,
		"sluice.dev/step-duration": "2s",
		"sluice.dev/min-requests":  "20",
	}
}

func deploymentVersions(s *rollout) map[string]string {
	s.T.Helper()
	out := map[string]string{}
	for _, n := range []string{s.Svc + "-v1", s.Svc + "-v2"} {
		d := &appsv1.Deployment{}
		scenario.Must(s.T, env.Client.Get(s.Ctx, client.ObjectKey{Namespace: s.NS, Name: n}, d))
		out[n] = d.ResourceVersion
	}
	return out
}

// Scenarios 1 and 3: a healthy canary is promoted through every step; status and Events
// are right at each step; the Deployments are never touched.
func TestHealthyCanaryPromoted(t *testing.T) {
	s := newRollout(t, "healthy", 200, "")
	deps := deploymentVersions(s)
	wl := s.WatchWeights("reviews")
	s.Fleet.SetBehaviour("v1", standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond})
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond})
	s.Annotate(fastRollout("v2"))

	for i, w := range []int32{5, 25, 50, 100} {
		step := int32(i + 1)
		ts := s.WaitTS(30*time.Second, "step "+string(rune('0'+step)), func(ts *sluicev1alpha1.TrafficShift) bool {
			return ts.Status.Step == step && ts.Status.Weight == w || ts.Status.Phase == sluicev1alpha1.PhasePromoted
		})
		if ts.Status.Phase == sluicev1alpha1.PhasePromoted {
			break
		}
		if ts.Status.Stable != "v1" || ts.Status.Canary != "v2" || ts.Status.Phase != sluicev1alpha1.PhaseProgressing {
			t.Fatalf("step %d: status %s", step, scenario.StatusJSON(ts))
		}
		if got := s.Weights("reviews"); got["v2"] != w || got["v1"] != 100-w {
			t.Fatalf("step %d: VirtualService weights %v, want v1=%d v2=%d", step, got, 100-w, w)
		}
	}
	ts := s.WaitTS(30*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if ts.Status.Stable != "v2" || ts.Status.Weight != 100 {
		t.Fatalf("promoted status: %s", scenario.StatusJSON(ts))
	}
	if len(ts.Status.History) != 1 || ts.Status.History[0].Result != sluicev1alpha1.PhasePromoted || ts.Status.History[0].Canary != "v2" {
		t.Fatalf("history: %s", scenario.StatusJSON(ts))
	}
	if got := s.Weights("reviews"); len(got) != 1 || got["v2"] != 100 {
		t.Fatalf("after promotion the route must hold v2 alone at 100, got %v", got)
	}
	if seq := wl.CanarySeq("v2"); !slices.Equal(seq, []int32{0, 5, 25, 50, 100}) {
		t.Fatalf("canary weight sequence %v, want [0 5 25 50 100]", seq)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "RolloutStarted", `"v2"`)
	for _, note := range []string{"5 → 25 (step 2/4)", "25 → 50 (step 3/4)", "50 → 100 (step 4/4)"} {
		s.WaitEvent("TrafficShift", 5*time.Second, "StepAdvanced", note)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "Promoted", `"v2"`)
	if w := ts.Status.Window; w == nil || w.Canary == nil || w.Canary.Requests == 0 {
		t.Fatalf("status window missing canary requests: %s", scenario.StatusJSON(ts))
	}
	if after := deploymentVersions(s); !mapsEqual(deps, after) {
		t.Fatalf("Deployments were written: before %v after %v", deps, after)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Scenarios 2 and 3: the canary turns bad at the 25 % step; its weight reaches 0 within
// 3 s of the fault, measured from fault start to the VirtualService watch event.
func TestBadCanaryRolledBack(t *testing.T) {
	s := newRollout(t, "bad", 200, "")
	deps := deploymentVersions(s)
	wl := s.WatchWeights("reviews")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(30*time.Second, "step 2 (25 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })

	fault := time.Now()
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 0.5})
	ts := s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	zeroAt, ok := wl.FirstAfter(fault, "v2", 0)
	if !ok {
		t.Fatalf("no VirtualService event with canary weight 0 after the fault; seq %v", wl.CanarySeq("v2"))
	}
	took := zeroAt.Sub(fault)
	t.Logf("fault → canary weight 0 (VirtualService watch event): %s", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Fatalf("rollback took %s, want ≤ 3s", took)
	}
	if ts.Status.Weight != 0 || ts.Status.LastDecision == nil || ts.Status.LastDecision.Reason != "ErrorRate" {
		t.Fatalf("rolled-back status: %s", scenario.StatusJSON(ts))
	}
	if got := s.Weights("reviews"); len(got) != 1 || got["v1"] != 100 {
		t.Fatalf("after rollback the route must hold v1 alone at 100, got %v", got)
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "RolledBack", "ErrorRate")
	// It stays rolled back: the annotation still names v2, nothing moves.
	time.Sleep(3 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseRolledBack {
		t.Fatalf("did not stay rolled back: %s", scenario.StatusJSON(ts))
	}
	if seq := wl.CanarySeq("v2"); !slices.Equal(seq, []int32{0, 5, 25, 0}) {
		t.Fatalf("canary weight sequence %v, want [0 5 25 0]", seq)
	}
	if after := deploymentVersions(s); !mapsEqual(deps, after) {
		t.Fatalf("Deployments were written: before %v after %v", deps, after)
	}
}

// Scenario 4: the controller stops mid-rollout and starts again; it resumes at the same
// step, never going backwards or skipping.
func TestControllerRestartResumes(t *testing.T) {
	s := newRollout(t, "restart", 200, "")
	wl := s.WatchWeights("reviews")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(30*time.Second, "step 2", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Step == 2 })
	scenario.Must(t, stopController())
	before := s.TS()
	time.Sleep(3 * time.Second) // longer than a step's dwell: nothing may move meanwhile
	if got := s.Weights("reviews"); got["v2"] != before.Status.Weight {
		t.Fatalf("weights moved while the controller was down: %v vs status weight %d", got, before.Status.Weight)
	}
	scenario.Must(t, startController())
	ts := s.WaitTS(60*time.Second, "Promoted after restart", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if seq := wl.CanarySeq("v2"); !slices.Equal(seq, []int32{0, 5, 25, 50, 100}) {
		t.Fatalf("canary weight sequence across the restart %v, want [0 5 25 50 100]", seq)
	}
	if ts.Status.RolloutStartedAt == nil || !ts.Status.RolloutStartedAt.Equal(before.Status.RolloutStartedAt) {
		t.Fatalf("rollout restarted instead of resuming: before %v after %v", before.Status.RolloutStartedAt, ts.Status.RolloutStartedAt)
	}
}
