package e2e

import (
	"testing"
	"time"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

func gatedRollout(canary string) map[string]string {
	return map[string]string{
		"sluice.dev/enabled": "true", "sluice.dev/canary": canary,
		"sluice.dev/steps": "5,25:approve,100", "sluice.dev/step-duration": "2s", "sluice.dev/min-requests": "20",
	}
}

// Issue 15: a step with an approval gate holds its weight after its dwell, in phase
// AwaitingApproval, until sluice.dev/approve names the canary; then the rollout goes on.
func TestApprovalGateHoldsUntilApproved(t *testing.T) {
	s := newRollout(t, "approve", 200, "")
	wl := s.WatchWeights("reviews")
	s.Annotate(gatedRollout("v2"))
	ts := s.WaitTS(30*time.Second, "AwaitingApproval", scenario.PhaseIs(sluicev1alpha1.PhaseAwaitingApproval))
	if ts.Status.Weight != 25 || ts.Status.Step != 2 {
		t.Fatalf("awaiting approval at %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "AwaitingApproval", "sluice.dev/approve")
	time.Sleep(3 * time.Second) // well past the 2 s dwell: it must hold
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseAwaitingApproval || ts.Status.Weight != 25 {
		t.Fatalf("did not hold for approval: %s", scenario.StatusJSON(ts))
	}
	s.Annotate(map[string]string{"sluice.dev/approve": "v2@10"}) // a lower gate's approval does not pass it
	time.Sleep(2 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseAwaitingApproval {
		t.Fatalf("an approval up to 10 %% passed the 25 %% gate: %s", scenario.StatusJSON(ts))
	}
	approved := time.Now()
	s.Annotate(map[string]string{"sluice.dev/approve": "v2@25"})
	s.WaitTS(20*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	s.WaitEvent("TrafficShift", 5*time.Second, "Approved", "v2@25")
	at, ok := wl.FirstAfter(approved, "v2", 100)
	if !ok {
		t.Fatalf("no step to 100 after the approval: %v", wl.CanarySeq("v2"))
	}
	t.Logf("approval → next step written: %s", at.Sub(approved).Round(time.Millisecond))
}

// Issue 15: the guard keeps running while a rollout waits for approval.
func TestApprovalGateGuardStillRollsBack(t *testing.T) {
	s := newRollout(t, "approve-bad", 200, "")
	wl := s.WatchWeights("reviews")
	s.Annotate(gatedRollout("v2"))
	s.WaitTS(30*time.Second, "AwaitingApproval", scenario.PhaseIs(sluicev1alpha1.PhaseAwaitingApproval))
	fault := time.Now()
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 1})
	s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 3*time.Second)
}
