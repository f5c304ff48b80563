package meshlab

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// TestSluiceOnLab runs the sluice controller against the mesh lab (real API server, real
// istiod, proxyless gRPC caller at 200 calls/s, caller-side stats): a healthy v2 is
// promoted with the measured split of real calls following every step, then faulty
// canaries are rolled back and no canary call completes more than 2 s after the
// VirtualService drops them. Needs SLUICE_MESHLAB=1 and KUBEBUILDER_ASSETS.
func TestSluiceOnLab(t *testing.T) {
	begin := time.Now()
	lab, vs := startSluiceLab(t, ConfirmAtCallers)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if !t.Run("promotion", func(t *testing.T) { checkPromotion(t, ctx, lab, vs) }) {
		t.FailNow()
	}
	cases := map[string]struct {
		canary string
		beh    Behaviour
		atStep int32 // the fault starts once the client applied this step
	}{
		"v3 100% INTERNAL at 25%": {canary: "v3", beh: Behaviour{ErrorRate: 1, ErrorCode: codes.Internal}, atStep: 2},
		"v1 50% INTERNAL at 5%":   {canary: "v1", beh: Behaviour{ErrorRate: 0.5, ErrorCode: codes.Internal}, atStep: 1},
	}
	for name, tc := range cases {
		t.Run("rollback "+name, func(t *testing.T) {
			checkRollback(t, ctx, lab, vs, "v2", tc.canary, tc.beh, tc.atStep)
			lab.SetSubsetBehaviour(tc.canary, Behaviour{})
		})
	}
	t.Run("rollback v3 failing from its first call, on the first tick", func(t *testing.T) { checkFirstTick(t, ctx, lab, vs, "v2", "v3") })
	t.Logf("wall time of the test (lab start to here): %v", time.Since(begin).Round(time.Millisecond))
}

// TestSluiceOnLabIstiodConfirm runs the promotion of TestSluiceOnLab with sluice
// confirming each weight through istiod's /debug/syncz and /debug/config_dump (the way
// that works where the callers' Envoy admin is unreachable): every confirmation must come
// after the client really ACKed the route, and soon after.
func TestSluiceOnLabIstiodConfirm(t *testing.T) {
	lab, vs := startSluiceLab(t, ConfirmThroughIstiod)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	checkPromotion(t, ctx, lab, vs)
}

// startSluiceLab starts a lab with 2 pods each of v1, v2 and v3 and one caller at 200
// calls/s, routed to v1 (no weight), with sluice confirming weights as confirm says and
// a watch on the VirtualService (StartWithSluice), or skips when the lab cannot run
// here. Sluice's log is removed after a pass unless SLUICE_MESHLAB_KEEP_LOG=1; on
// failure the test says where it and istiod's log are.
func startSluiceLab(t *testing.T, confirm Confirm) (*Lab, *vswatch.Log) {
	t.Helper()
	if os.Getenv("SLUICE_MESHLAB") != "1" {
		t.Skip("set SLUICE_MESHLAB=1 to run the mesh lab (real istiod)")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS=$(e2e/k8sbins/build.sh)")
	}
	log.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	begin := time.Now()
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("sluice-meshlab-controller-%d.log", os.Getpid()))
	sl, err := StartWithSluice(ctx, SluiceLabConfig{
		Lab: Config{
			Subsets: []Subset{{Name: "v1", Pods: 2}, {Name: "v2", Pods: 2}, {Name: "v3", Pods: 2}},
			Callers: 1, Rate: 200,
			Istiod: IstiodOptions{BinDir: os.Getenv("SLUICE_ISTIOD_BIN")},
		},
		Confirm: confirm,
		LogPath: logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sl.Stop(); err != nil {
			t.Errorf("stopping sluice: %v", err)
		}
		if t.Failed() {
			t.Logf("controller log kept at %s; istiod log at %s", logPath, sl.Lab.Istiod.LogPath)
		} else if os.Getenv("SLUICE_MESHLAB_KEEP_LOG") != "1" {
			_ = os.Remove(logPath)
		}
	})
	t.Logf("lab up and sluice started in %v (istiod ready %v after exec); controller log %s",
		time.Since(begin).Round(time.Millisecond), sl.Lab.Istiod.Started.Round(time.Millisecond), logPath)
	return sl.Lab, sl.VS
}

// rollout are the annotations that start a fast rollout of canary read from the callers.
func rollout(canary string) map[string]string {
	return map[string]string{
		"sluice.dev/enabled":       "true",
		"sluice.dev/canary":        canary,
		"sluice.dev/stats-from":    "app=gateway",
		"sluice.dev/step-duration": "2s",
		"sluice.dev/min-requests":  "20",
	}
}

// split returns the weights stable 100-w, canary w as the caller's route should hold them.
func split(stable, canary string, w int32) map[string]uint32 {
	return map[string]uint32{stable: uint32(100 - w), canary: uint32(w)}
}

// checkPromotion rolls v2 out over v1 and checks every step on real calls.
func checkPromotion(t *testing.T, ctx context.Context, lab *Lab, vs *vswatch.Log) {
	c, host := lab.Callers[0], lab.Host()
	start := time.Now()
	if err := lab.Annotate(ctx, rollout("v2")); err != nil {
		t.Fatal(err)
	}
	var toClient []time.Duration
	for i, w := range []int32{5, 25, 50, 100} {
		step := int32(i + 1)
		ts, err := lab.WaitTrafficShift(ctx, fmt.Sprintf("step %d (weight %d)", step, w), func(ts *sluicev1alpha1.TrafficShift) bool {
			return ts.Status.Canary == "v2" && (ts.Status.Step == step && ts.Status.Weight == w || ts.Status.Phase == sluicev1alpha1.PhasePromoted)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ts.Status.Phase == sluicev1alpha1.PhasePromoted && w < 100 {
			t.Fatalf("promoted before step %d (weight %d): %+v", step, w, ts.Status)
		}
		seen := time.Now()
		arr, err := c.WaitForRoute(ctx, host, split("v1", "v2", w))
		if err != nil {
			t.Fatal(err)
		}
		written, ok := vs.FirstAfter(start, "v2", w)
		if !ok {
			t.Fatalf("step %d: no VirtualService event with v2 at %d; v2 weights %v", step, w, vs.CanarySeq("v2"))
		}
		toClient = append(toClient, arr.Applied.Sub(written))
		checkConfirmed(t, ctx, lab, w, arr.Applied.Sub(written), w < 100)
		got, n, end := measure(c, lab, time.Second)
		if next, ok := vs.FirstAfter(written.Add(time.Millisecond), "v2", nextWeight(w)); w < 100 && ok && next.Before(end) {
			t.Errorf("step %d: sluice moved on at %v, inside the measurement ending %v after the write", step, next.Sub(written), end.Sub(written))
		}
		share := float64(got["v2"].Requests) / float64(n)
		p := float64(w) / 100
		tol := 4*math.Sqrt(p*(1-p)/float64(n)) + 2/float64(n)
		t.Logf("step %d: status seen %v after the VS write; VS write → istiod push at caller %v → client applied %v; split over 1 s: v2 %d of %d calls = %.4f (want %.2f ± %.4f)",
			step, seen.Sub(written).Round(time.Millisecond), arr.Pushed.Sub(written).Round(100*time.Microsecond), arr.Applied.Sub(written).Round(100*time.Microsecond),
			got["v2"].Requests, n, share, p, tol)
		if n < 100 {
			t.Errorf("step %d: only %d calls in 1 s at 200/s (unrouted %d)", step, n, c.Unrouted())
		}
		if math.Abs(share-p) > tol {
			t.Errorf("step %d: v2 got %.4f of %d calls, want %.2f ± %.4f (counts %v)", step, share, n, p, tol, got)
		}
		if e := got["v1"].Errors + got["v2"].Errors; e != 0 {
			t.Errorf("step %d: %d calls failed while both versions were healthy", step, e)
		}
	}
	ts, err := lab.WaitTrafficShift(ctx, "Promoted", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == sluicev1alpha1.PhasePromoted })
	if err != nil {
		t.Fatal(err)
	}
	if ts.Status.Stable != "v2" || ts.Status.Weight != 100 {
		t.Errorf("promoted status: stable %q weight %d, want v2 at 100", ts.Status.Stable, ts.Status.Weight)
	}
	if got := routeWeights(t, ctx, lab); len(got) != 1 || got["v2"] != 100 {
		t.Errorf("after promotion the VirtualService routes %v, want v2 alone", got)
	}
	if _, err := c.WaitForWeights(ctx, host, map[string]uint32{"v2": 100}); err != nil {
		t.Fatal(err)
	}
	got, n, _ := measure(c, lab, time.Second)
	if got["v2"].Requests != n || n < 100 {
		t.Errorf("after promotion %d calls in 1 s, %d to v2, want all and ≥ 100 (counts %v)", n, got["v2"].Requests, got)
	}
	if seq := vs.CanarySeq("v2"); !slices.Equal(seq, []int32{0, 5, 25, 50, 100}) {
		t.Errorf("v2 weight sequence %v, want [0 5 25 50 100]", seq)
	}
	slices.Sort(toClient)
	t.Logf("promoted in %v; all %d calls of the last second went to v2; VS write → client applied over 4 steps: min %v median %v max %v",
		time.Since(start).Round(time.Millisecond), n, toClient[0].Round(100*time.Microsecond), toClient[len(toClient)/2].Round(100*time.Microsecond), toClient[len(toClient)-1].Round(100*time.Microsecond))
}

func nextWeight(w int32) int32 {
	switch w {
	case 5:
		return 25
	case 25:
		return 50
	}
	return 100
}

// measure counts the caller's calls per subset over d; n is the calls to any subset.
func measure(c *Caller, lab *Lab, d time.Duration) (map[string]Calls, uint64, time.Time) {
	before := c.Counts()
	time.Sleep(d)
	end := time.Now()
	got := lab.Delta(before, c.Counts())
	var n uint64
	for _, s := range got {
		n += s.Requests
	}
	return got, n, end
}

// routeWeights reads the VirtualService's default route as subset → weight.
func routeWeights(t *testing.T, ctx context.Context, lab *Lab) map[string]int32 {
	t.Helper()
	w, err := lab.RouteWeights(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// checkRollback starts canary over stable, makes it fail once the client applied step
// atStep, and checks that sluice rolls it back and the caller stops reaching it within
// 2 s of the VirtualService write.
func checkRollback(t *testing.T, ctx context.Context, lab *Lab, vs *vswatch.Log, stable, canary string, beh Behaviour, atStep int32) {
	c, host := lab.Callers[0], lab.Host()
	if err := lab.Annotate(ctx, rollout(canary)); err != nil {
		t.Fatal(err)
	}
	w := []int32{5, 25, 50}[atStep-1]
	if _, err := lab.WaitTrafficShift(ctx, fmt.Sprintf("step %d of %s", atStep, canary), func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Canary == canary && ts.Status.Step == atStep && ts.Status.Weight == w
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitForWeights(ctx, host, split(stable, canary, w)); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := lab.FaultUntilRollback(rctx, vs, stable, canary, beh, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	decide, push, apply, drain := r.Segments()
	t.Logf("%s at %d%% with %.0f%% %v errors: fault → VS write %v → istiod push at caller +%v → client applied +%v → last %s call +%v (VS write → last %s call %v)",
		canary, w, beh.ErrorRate*100, beh.ErrorCode, decide.Round(time.Millisecond), push.Round(100*time.Microsecond), apply.Round(100*time.Microsecond),
		canary, drain.Round(100*time.Microsecond), canary, r.LastCanary.Sub(r.Written).Round(100*time.Microsecond))
	if r.LastCanary.After(r.Written.Add(2 * time.Second)) {
		t.Errorf("a call to %s completed %v after the VirtualService dropped it, want none after 2 s", canary, r.LastCanary.Sub(r.Written))
	}
	ts, err := lab.WaitTrafficShift(ctx, "RolledBack", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == sluicev1alpha1.PhaseRolledBack })
	if err != nil {
		t.Fatal(err)
	}
	checkConfirmed(t, ctx, lab, 0, r.Route.Applied.Sub(r.Written), false)
	checkDrained(t, ctx, lab, r.LastCanary)
	if ts.Status.Weight != 0 || ts.Status.Stable != stable || ts.Status.LastDecision == nil || ts.Status.LastDecision.Reason != "ErrorRate" {
		t.Errorf("rolled-back status: weight %d stable %q decision %+v", ts.Status.Weight, ts.Status.Stable, ts.Status.LastDecision)
	} else {
		t.Logf("sluice: %s", ts.Status.LastDecision.Message)
	}
	// Caller-side stats: one pod (gateway-0) contributed, not the canary's two backends.
	if w := ts.Status.Window; w == nil || w.Canary == nil || w.Canary.Pods != 1 || w.Canary.FailedPods != 0 || w.Canary.Errors == 0 {
		t.Errorf("status window %+v: want the canary's errors read from the 1 caller", w)
	}
	if got := routeWeights(t, ctx, lab); len(got) != 1 || got[stable] != 100 {
		t.Errorf("after rollback the VirtualService routes %v, want %s alone", got, stable)
	}
	got, n, _ := measure(c, lab, time.Second)
	if got[stable].Requests != n || got[stable].Errors != 0 || n < 100 {
		t.Errorf("after rollback %d calls in 1 s, want all to %s without errors and ≥ 100 (counts %v)", n, stable, got)
	}
}

// checkConfirmed waits until sluice's status says the callers applied canary weight w (read
// from their config dumps) and compares sluice's propagation time with the lab's own
// (the client's ACK of the route); a step's dwell must start at that confirmation.
func checkConfirmed(t *testing.T, ctx context.Context, lab *Lab, w int32, labTook time.Duration, step bool) {
	t.Helper()
	ts, err := lab.WaitTrafficShift(ctx, fmt.Sprintf("data plane confirms weight %d", w), func(ts *sluicev1alpha1.TrafficShift) bool {
		dp := ts.Status.DataPlane
		return dp != nil && dp.Weight == w && dp.AppliedAt != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dp := ts.Status.DataPlane
	took := dp.AppliedAt.Sub(dp.WrittenAt.Time)
	t.Logf("weight %d: sluice saw the callers apply it %v after its write (status propagationSeconds %s); the lab's client ACK came %v after the watch event",
		w, took.Round(time.Millisecond), dp.PropagationSeconds, labTook.Round(time.Millisecond))
	if dp.Callers != 1 || dp.Applied != 1 {
		t.Errorf("weight %d: data plane %d of %d callers, want 1 of 1", w, dp.Applied, dp.Callers)
	}
	// sluice polls every 25 ms once a write is out; it cannot see the route before the
	// client has it, nor (on this loaded machine) much later.
	if took < labTook-50*time.Millisecond || took > labTook+time.Second {
		t.Errorf("weight %d: sluice's propagation %v is not consistent with the client's %v", w, took, labTook)
	}
	if step && (ts.Status.StepStartedAt == nil || !ts.Status.StepStartedAt.Equal(dp.AppliedAt)) {
		t.Errorf("weight %d: the step's dwell must start at confirmation: stepStartedAt %v, appliedAt %v", w, ts.Status.StepStartedAt, dp.AppliedAt)
	}
}

// checkDrained waits until sluice's status records when the canary's traffic stopped after
// the rollback (its counters at the callers stopped growing) and compares it with the last
// canary call the caller itself completed.
func checkDrained(t *testing.T, ctx context.Context, lab *Lab, lastCall time.Time) {
	t.Helper()
	ts, err := lab.WaitTrafficShift(ctx, "canary traffic drained", func(ts *sluicev1alpha1.TrafficShift) bool {
		dp := ts.Status.DataPlane
		return dp != nil && dp.Weight == 0 && dp.CanaryDrainedAt != nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dp := ts.Status.DataPlane
	t.Logf("sluice: canary traffic stopped by %v after its write (drainSeconds %s); the caller's last canary call completed %v after it",
		dp.CanaryDrainedAt.Sub(dp.WrittenAt.Time).Round(time.Millisecond), dp.DrainSeconds, lastCall.Sub(dp.WrittenAt.Time).Round(time.Millisecond))
	// The first read showing the final count cannot precede the last call; sluice reads
	// every 100 ms, so it should follow within a scrape or two.
	if dp.CanaryDrainedAt.Time.Before(lastCall.Add(-10*time.Millisecond)) || dp.CanaryDrainedAt.Time.After(lastCall.Add(time.Second)) {
		t.Errorf("canaryDrainedAt %v is not consistent with the last canary call at %v", dp.CanaryDrainedAt.Time, lastCall)
	}
}
