package analysis

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

func TestPodHealth(t *testing.T) {
	now := t0.Add(10 * time.Minute)
	started := t0
	ready := func(name string) PodState {
		return PodState{Name: name, Ready: true, Containers: []ContainerState{{Name: "app"}}}
	}
	waiting := func(name, why string) PodState {
		return PodState{Name: name, Containers: []ContainerState{{Name: "app", Waiting: why}}}
	}
	restarted := func(name, why string, at time.Time) PodState {
		return PodState{Name: name, Ready: true, Containers: []ContainerState{{Name: "app", Terminated: why, TerminatedAt: at}}}
	}
	notReadyFor := func(name string, d time.Duration) PodState {
		return PodState{Name: name, NotReadySince: now.Add(-d), Containers: []ContainerState{{Name: "app"}}}
	}
	tests := map[string]struct {
		canary, stable []PodState
		disabled       bool
		trip           bool
		inMsg          []string
	}{
		"healthy":                   {canary: []PodState{ready("c1"), ready("c2")}, stable: []PodState{ready("s1")}},
		"no canary pods: no data":   {stable: []PodState{ready("s1")}},
		"crash loop":                {canary: []PodState{ready("c1"), waiting("c2", "CrashLoopBackOff")}, stable: []PodState{ready("s1")}, trip: true, inMsg: []string{"c2", "app", "CrashLoopBackOff"}},
		"image pull":                {canary: []PodState{waiting("c1", "ImagePullBackOff")}, trip: true, inMsg: []string{"ImagePullBackOff"}},
		"config error":              {canary: []PodState{waiting("c1", "CreateContainerConfigError")}, stable: []PodState{ready("s1")}, trip: true, inMsg: []string{"CreateContainerConfigError"}},
		"a crash loop stable shows": {canary: []PodState{waiting("c1", "CrashLoopBackOff")}, stable: []PodState{waiting("s1", "CrashLoopBackOff")}},
		"starting up is no failure": {canary: []PodState{waiting("c1", "ContainerCreating")}, stable: []PodState{ready("s1")}},
		"OOM kill since the rollout started": {canary: []PodState{restarted("c1", "OOMKilled", started.Add(time.Minute))}, stable: []PodState{ready("s1")}, trip: true,
			inMsg: []string{"c1", "app", "OOMKilled", "restarted"}},
		"a restart before the rollout": {canary: []PodState{restarted("c1", "OOMKilled", started.Add(-time.Minute))}, stable: []PodState{ready("s1")}},
		"a restart in the second the rollout started (whole-second times)": {canary: []PodState{restarted("c1", "OOMKilled", started.Truncate(time.Second))},
			stable: []PodState{ready("s1")}, trip: true, inMsg: []string{"OOMKilled"}},
		"a node drain restarts both": {canary: []PodState{restarted("c1", "Error", started.Add(5*time.Minute))},
			stable: []PodState{restarted("s1", "Error", started.Add(5*time.Minute+40*time.Second))}},
		"a stable restart long before does not excuse": {canary: []PodState{restarted("c1", "Error", started.Add(8*time.Minute))},
			stable: []PodState{restarted("s1", "Error", started.Add(time.Minute))}, trip: true, inMsg: []string{"Error"}},
		"most canary pods NotReady": {canary: []PodState{notReadyFor("c1", time.Minute), notReadyFor("c2", time.Minute), ready("c3")},
			stable: []PodState{ready("s1"), ready("s2")}, trip: true, inMsg: []string{"2 of 3 canary pods NotReady", "c1, c2"}},
		"NotReady only briefly":      {canary: []PodState{notReadyFor("c1", 10*time.Second), notReadyFor("c2", 10*time.Second)}, stable: []PodState{ready("s1")}},
		"half is not more than half": {canary: []PodState{notReadyFor("c1", time.Minute), ready("c2")}, stable: []PodState{ready("s1")}},
		"stable as NotReady": {canary: []PodState{notReadyFor("c1", time.Minute), notReadyFor("c2", time.Minute)},
			stable: []PodState{notReadyFor("s1", time.Minute), ready("s2"), notReadyFor("s3", 2*time.Minute)}},
		"disabled": {canary: []PodState{waiting("c1", "CrashLoopBackOff")}, disabled: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := base()
			in.Now, in.RolloutStartedAt, in.CanaryPods, in.StablePods = now, started, tc.canary, tc.stable
			in.StepStartedAt = now.Add(-5 * time.Second) // within the dwell: a healthy canary holds
			in.Thresholds.PodHealth.Disabled = tc.disabled
			d := Decide(in)
			if tripped := d.Reason == reason.CanaryPodUnhealthy; tripped != tc.trip {
				t.Fatalf("decision %+v, want trip=%v", d, tc.trip)
			}
			if tc.trip && d.Action != Rollback {
				t.Fatalf("action %s, want Rollback", d.Action)
			}
			for _, frag := range tc.inMsg {
				if !strings.Contains(d.Message, frag) {
					t.Errorf("message %q lacks %q", d.Message, frag)
				}
			}
		})
	}
}
