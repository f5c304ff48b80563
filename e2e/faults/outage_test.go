package faults

import (
	"context"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// outage is how long etcd or the API server stays down in these tests: long enough for
// several failed reconciles and their backoff to grow.
const outage = 6 * time.Second

// etcd, then the API server, restarted mid-rollout: the controller reconnects and the
// rollout goes on from the step it was at, with no step lost or skipped and no weight
// moved while the control plane was away.
func TestEtcdThenAPIServerRestartedMidRollout(t *testing.T) {
	r := newRollout(t, "restart", 200)
	r.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
		// Step 3 dwells 10 s: the test must still see it after the etcd restart's wait for
		// a healthy API server (with 4 s a slow restart let it pass unseen to 100 %).
		"sluice.dev/steps": "5:1s,25:4s,50:10s,100:1s", "sluice.dev/min-requests": "20"})
	before := r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))

	down(t, "etcd", env.StopEtcd, env.StartEtcd, nil)
	r.WaitTS(30*time.Second, "step 3 (50 %)", scenario.WeightIs(50))
	down(t, "the API server", env.StopAPIServer, env.StartAPIServer, nil)

	ts := r.WaitTS(60*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	r.canarySeq(0, 5, 25, 50, 100)
	if ts.Status.RolloutStartedAt == nil || !ts.Status.RolloutStartedAt.Equal(before.Status.RolloutStartedAt) {
		t.Fatalf("the rollout started over: started %v before the restarts, %v after", before.Status.RolloutStartedAt, ts.Status.RolloutStartedAt)
	}
	if h := ts.Status.History; len(h) != 1 || h[0].Result != sluicev1alpha1.PhasePromoted {
		t.Fatalf("history after the restarts: %s", scenario.StatusJSON(ts))
	}
	r.checkInvariants(5)
	checkDwells(t, stepRecords(t, r.NS), []time.Duration{time.Second, 4 * time.Second, 10 * time.Second, time.Second})
}

// The canary fails while the API server is down: the rollback is written as soon as the
// API server is back. Measured: API server healthy again → canary weight 0 in the
// VirtualService (polled every 10 ms).
func TestRollbackWhileAPIServerDown(t *testing.T) {
	r := newRollout(t, "apidown", 200)
	r.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
		"sluice.dev/steps": "5:1s,25:5m,50,100", "sluice.dev/min-requests": "20"})
	r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))

	down(t, "the API server", env.StopAPIServer, env.StartAPIServer, func() {
		r.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 0.5})
	})
	back := time.Now() // healthy and answering reads
	zero, ok := r.pollCanaryZero(back, 30*time.Second)
	if !ok {
		t.Fatalf("canary weight not 0 within 30s of the API server's return; weights %v", r.Weights(r.Svc))
	}
	t.Logf("API server back → canary weight 0: %s (n=1, outage %s)", zero.Sub(back).Round(time.Millisecond), outage)
	ts := r.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	if d := ts.Status.LastDecision; d == nil || d.Reason != "ErrorRate" || ts.Status.Weight != 0 {
		t.Fatalf("rolled-back status: %s", scenario.StatusJSON(ts))
	}
	r.WaitEvent("TrafficShift", 10*time.Second, "RolledBack", "ErrorRate")
	r.canarySeq(0, 5, 25, 0)
	r.checkInvariants(4)
}

// down stops part of the control plane, runs whileDown (when set), waits outage, starts it
// again and waits until the API server answers reads again.
func down(t *testing.T, what string, stop, start func() error, whileDown func()) {
	t.Helper()
	scenario.Must(t, stop())
	if whileDown != nil {
		whileDown()
	}
	time.Sleep(outage)
	scenario.Must(t, start())
	deadline := time.Now().Add(30 * time.Second)
	for env.Client.Get(context.Background(), client.ObjectKey{Name: "default"}, &corev1.Namespace{}) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the API server does not answer 30s after %s came back", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s was down for about %s", what, outage)
	t.Cleanup(func() { waitControllerSees(t, what) })
}

// waitControllerSees measures, after an outage, how long until the controller judges a
// newly opted-in Service valid: its Service, VirtualService and DestinationRule all seen
// (its informers resume watching only after their backoff, up to about a minute). It
// waits for it, so that the next test starts with a controller that sees what it creates.
func waitControllerSees(t *testing.T, what string) {
	spec := rolloutSpec("probe", 0, 0)
	spec.Pods = nil
	start := time.Now()
	s, err := scenario.Build(clients, spec)
	scenario.Must(t, err)
	defer s.Close()
	s.T = t
	s.Annotate(map[string]string{"sluice.dev/enabled": "true"})
	s.WaitTS(3*time.Minute, "Idle (the new Service and its routing seen)", scenario.PhaseIs(sluicev1alpha1.PhaseIdle))
	t.Logf("after %s came back: a new opted-in Service, its VirtualService and DestinationRule seen by the controller (TrafficShift Idle) %s after their creation",
		what, time.Since(start).Round(100*time.Millisecond))
}

// pollCanaryZero reads the VirtualService every 10 ms from since until the canary's
// weight is 0, and returns when it first saw it.
func (r *rollout) pollCanaryZero(since time.Time, timeout time.Duration) (time.Time, bool) {
	for time.Since(since) < timeout {
		vs := &networkingv1.VirtualService{}
		if err := env.Client.Get(r.Ctx, client.ObjectKey{Namespace: r.NS, Name: r.Svc}, vs); err == nil {
			if standin.DefaultRouteWeights(vs, r.NS, r.Svc)["v2"] == 0 {
				return time.Now(), true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Time{}, false
}
