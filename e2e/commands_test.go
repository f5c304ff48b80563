package e2e

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// jsonPatchVS applies an RFC 6902 patch to the VirtualService as another party would.
func (s *rollout) jsonPatchVS(name, patch string) {
	s.T.Helper()
	_, err := dyn.Resource(vsGVR).Namespace(s.NS).Patch(context.Background(), name, types.JSONPatchType, []byte(patch), metav1.PatchOptions{})
	scenario.Must(s.T, err)
}

// Scenario 7: someone else edits the VirtualService mid-rollout. Other fields survive
// sluice's later writes; a weight edit pauses the rollout instead of being fought.
func TestExternalEdits(t *testing.T) {
	s := newRollout(t, "edits", 200, "")
	s.Annotate(fastRollout("v2"))
	s.WaitTS(20*time.Second, "step 1", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	s.jsonPatchVS("reviews", `[{"op":"add","path":"/spec/http/0/timeout","value":"7s"},{"op":"add","path":"/spec/http/0/retries","value":{"attempts":3,"perTryTimeout":"2s"}}]`)
	s.WaitTS(20*time.Second, "step 2 after the edit", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	var spec struct {
		HTTP []struct {
			Timeout string         `json:"timeout"`
			Retries map[string]any `json:"retries"`
		} `json:"http"`
	}
	scenario.Must(t, jsonUnmarshal(s.VSRaw("reviews"), &spec))
	if spec.HTTP[0].Timeout != "7s" || spec.HTTP[0].Retries["attempts"] != float64(3) {
		t.Fatalf("other fields lost after sluice's write: %+v", spec.HTTP[0])
	}

	// Someone moves the weights by hand to 60/40.
	s.jsonPatchVS("reviews", `[{"op":"test","path":"/spec/http/0/route/1/destination/subset","value":"v2"},{"op":"replace","path":"/spec/http/0/route/0/weight","value":60},{"op":"replace","path":"/spec/http/0/route/1/weight","value":40}]`)
	ts := s.WaitTS(10*time.Second, "Paused", scenario.PhaseIs(sluicev1alpha1.PhasePaused))
	if ts.Status.PausedReason != "ExternalWeightChange" || ts.Status.Weight != 40 {
		t.Fatalf("paused status: %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "ExternalWeightChange", "paused at weight 40")
	time.Sleep(3 * time.Second) // longer than a dwell: sluice must not fight the edit
	if w := s.Weights("reviews"); w["v1"] != 60 || w["v2"] != 40 {
		t.Fatalf("sluice overwrote the external edit: %v", w)
	}
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhasePaused {
		t.Fatalf("left Paused without an operator: %s", scenario.StatusJSON(ts))
	}
	// A retry resumes from the weights as found and finishes the rollout.
	s.Annotate(map[string]string{"sluice.dev/retry": "v2@resume-1"})
	s.WaitTS(30*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	s.WaitEvent("TrafficShift", 5*time.Second, "Resumed", "canary weight 40")
}

// Scenario 8: pause, resume, promote, abort and retry through annotations, including
// stale commands naming an older canary, which must be ignored.
func TestOperatorCommands(t *testing.T) {
	s := newRollout(t, "commands", 200, "")
	ann := fastRollout("v2")
	ann["sluice.dev/step-duration"] = "1s"
	s.Annotate(ann)
	s.WaitTS(20*time.Second, "step 1", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })

	// Pause holds the weight past several dwells.
	s.Annotate(map[string]string{"sluice.dev/paused": "true"})
	ts := s.WaitTS(10*time.Second, "Paused", scenario.PhaseIs(sluicev1alpha1.PhasePaused))
	held := ts.Status.Weight
	time.Sleep(3 * time.Second)
	if ts := s.TS(); ts.Status.Weight != held || s.Weights("reviews")["v2"] != held {
		t.Fatalf("weight moved while paused: %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "Paused", "paused")

	// Resume: removing the annotation continues the schedule.
	s.Annotate(map[string]string{"sluice.dev/paused": ""})
	s.WaitTS(20*time.Second, "advance after resume", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight > held
	})

	// Promote jumps to 100 and finishes.
	s.Annotate(map[string]string{"sluice.dev/promote": "v2"})
	ts = s.WaitTS(10*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if ts.Status.Stable != "v2" || ts.Status.LastDecision.Reason != "PromoteCommand" {
		t.Fatalf("promote: %s", scenario.StatusJSON(ts))
	}
	if w := s.Weights("reviews"); len(w) != 1 || w["v2"] != 100 {
		t.Fatalf("after promote: %v", w)
	}

	// Next release v3: the stale promote (names v2) must not promote it.
	s.Annotate(map[string]string{"sluice.dev/canary": "v3"})
	s.WaitTS(10*time.Second, "v3 step 1", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Canary == "v3" && ts.Status.Weight == 5
	})
	s.Annotate(map[string]string{"sluice.dev/paused": "true"}) // hold v3 at 5 % to observe
	s.WaitTS(10*time.Second, "v3 paused", scenario.PhaseIs(sluicev1alpha1.PhasePaused))
	time.Sleep(2 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhasePaused || ts.Status.Weight != 5 {
		t.Fatalf("stale promote of v2 acted on v3: %s", scenario.StatusJSON(ts))
	}

	// Abort v3: canary weight 0 at once, RolledBack, and it stays so.
	s.Annotate(map[string]string{"sluice.dev/abort": "v3"})
	ts = s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	if ts.Status.LastDecision.Reason != "Aborted" {
		t.Fatalf("abort: %s", scenario.StatusJSON(ts))
	}
	if w := s.Weights("reviews"); len(w) != 1 || w["v2"] != 100 {
		t.Fatalf("after abort: %v", w)
	}
	// A retry while the abort still names v3 is ignored.
	s.Annotate(map[string]string{"sluice.dev/retry": "v3@1", "sluice.dev/paused": ""})
	time.Sleep(2 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseRolledBack {
		t.Fatalf("retry overrode a standing abort: %s", scenario.StatusJSON(ts))
	}
	// Drop the abort; the retry (a fresh token) restarts v3 from step 1.
	s.Annotate(map[string]string{"sluice.dev/abort": "", "sluice.dev/retry": "v3@2"})
	ts = s.WaitTS(10*time.Second, "v3 retried", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Canary == "v3"
	})
	if ts.Status.LastRetry != "v3@2" {
		t.Fatalf("retry token not recorded: %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "Retried", `"v3"`)
	ts = s.WaitTS(30*time.Second, "v3 promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if len(ts.Status.History) < 3 {
		t.Fatalf("history should hold v2 promoted, v3 rolled back, v3 promoted: %s", scenario.StatusJSON(ts))
	}
	// The same retry token again does nothing now that v3 is stable.
	if ts.Status.Stable != "v3" {
		t.Fatalf("stable after the v3 promotion: %s", scenario.StatusJSON(ts))
	}
}
