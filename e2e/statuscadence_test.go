package e2e

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// tickCount reads how many ticks the controller has timed (sluice_tick_duration_seconds).
func tickCount(t *testing.T) uint64 {
	t.Helper()
	mfs, err := ctrlRun.Metrics.Gather()
	scenario.Must(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "sluice_tick_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestSteadyRolloutStatusCadence holds a rollout, read from gateway callers, at its first
// step and records every write to its TrafficShift for 11 s (about 22 ticks of 500 ms):
// with nothing but the stats window changing, the status is written at most once per 5 s
// (--status-every), and still refreshed.
func TestSteadyRolloutStatusCadence(t *testing.T) {
	const span = 11 * time.Second
	s := newRollout(t, "statuscadence", 200, "")
	healthy := standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond}
	s.Fleet.SetBehaviour("v1", healthy)
	s.Fleet.SetBehaviour("v2", healthy)
	_, ann := s.addGateway("v2")
	ann["sluice.dev/step-duration"] = "10m"
	s.Annotate(ann)
	ts := s.WaitTS(30*time.Second, "step 1 at 5% with a canary window", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5 &&
			ts.Status.Window != nil && ts.Status.Window.Canary != nil && ts.Status.Window.Canary.Requests > 0
	})

	gvr := schema.GroupVersionResource{Group: sluicev1alpha1.GroupVersion.Group, Version: sluicev1alpha1.GroupVersion.Version, Resource: "trafficshifts"}
	w, err := dyn.Resource(gvr).Namespace(s.NS).Watch(s.Ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + s.Svc, ResourceVersion: ts.ResourceVersion})
	scenario.Must(t, err)
	defer w.Stop()
	ticksBefore := tickCount(t)
	var writes []time.Duration
	start := time.Now()
	timeout := time.After(span)
	for done := false; !done; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("the TrafficShift watch ended early")
			}
			if ev.Type != watch.Modified {
				t.Fatalf("unexpected %s event on the TrafficShift", ev.Type)
			}
			writes = append(writes, time.Since(start).Round(time.Millisecond))
		case <-timeout:
			done = true
		}
	}
	ticks := tickCount(t) - ticksBefore
	t.Logf("%d controller ticks in %s (this rollout: one per 500 ms), %d writes to its TrafficShift at %v", ticks, span, len(writes), writes)
	if ticks < 15 {
		t.Fatalf("only %d ticks in %s: the rollout was not ticking every 500 ms", ticks, span)
	}
	if len(writes) == 0 || len(writes) > 3 {
		t.Errorf("%d writes in %s of steady ticks, want 1 to 3 (one per 5 s)", len(writes), span)
	}
	after := s.TS()
	if after.Status.Weight != 5 || after.Status.Phase != sluicev1alpha1.PhaseProgressing {
		t.Fatalf("the rollout moved while held: %s", scenario.StatusJSON(after))
	}
	if after.Status.Window == nil || after.Status.Window.Canary == nil || after.Status.Window.Canary.Requests <= ts.Status.Window.Canary.Requests &&
		after.Status.StepRequests <= ts.Status.StepRequests {
		t.Errorf("the status window was not refreshed: before %s, after %s", scenario.StatusJSON(ts), scenario.StatusJSON(after))
	}
}
