package meshlab

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// checkFirstTick rolls out a canary that fails from its first call under a policy with a
// 3 s tick, sluice confirming each write in the caller's config dump, and checks that the
// first tick after the start rolls it back: sluice reads the counters when it starts a
// rollout, so that tick already has the canary's failures (before, it only took the
// baseline then, and the rollback waited for a second tick).
func checkFirstTick(t *testing.T, ctx context.Context, lab *Lab, vs *vswatch.Log, stable, canary string) {
	const tick = 3 * time.Second
	policy := &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "lab-slow-tick"},
		Spec:       sluicev1alpha1.ShiftPolicySpec{Interval: &metav1.Duration{Duration: tick}},
	}
	if err := lab.Cluster.Client.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	lab.SetSubsetBehaviour(canary, Behaviour{ErrorRate: 1, ErrorCode: codes.Internal})
	t.Cleanup(func() {
		lab.SetSubsetBehaviour(canary, Behaviour{})
		_ = lab.Annotate(context.Background(), map[string]string{"sluice.dev/policy": ""})
		_ = lab.Cluster.Client.Delete(context.Background(), policy)
	})
	ann := rollout(canary)
	ann["sluice.dev/policy"] = policy.Name
	ann["sluice.dev/retry"] = canary + "@first-tick"
	begin := time.Now()
	if err := lab.Annotate(ctx, ann); err != nil {
		t.Fatal(err)
	}
	ts, err := lab.WaitTrafficShift(ctx, "RolledBack", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Canary == canary && ts.Status.Phase == sluicev1alpha1.PhaseRolledBack && ts.Status.RolloutStartedAt != nil && ts.Status.RolloutStartedAt.After(begin)
	})
	if err != nil {
		t.Fatal(err)
	}
	started, ok := vs.FirstAfter(begin, canary, 5)
	if !ok {
		t.Fatalf("no VirtualService event with %s at 5 %% after the annotation", canary)
	}
	zero, ok := vs.FirstAfter(started, canary, 0)
	if !ok {
		t.Fatalf("no VirtualService event with %s at 0 after its start", canary)
	}
	took := zero.Sub(started)
	t.Logf("%s failing from its first call, %v tick: start → rollback %v (VirtualService events); sluice: %s",
		canary, tick, took.Round(time.Millisecond), ts.Status.LastDecision.Message)
	// The first full tick comes one interval after the start, the second two.
	if took >= tick*3/2 {
		t.Errorf("rolled back %v after the start; want on the first tick, %v after it", took, tick)
	}
	if d := ts.Status.LastDecision; d == nil || d.Reason != "ErrorRate" {
		t.Errorf("rolled-back decision %+v, want ErrorRate", d)
	}
}
