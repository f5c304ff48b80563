package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// notReady makes a pod NotReady with its container waiting for reason.
func notReady(reason string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		now := metav1.Now()
		for i := range p.Status.Conditions {
			if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
				c.Status, c.LastTransitionTime, c.Reason = corev1.ConditionFalse, now, "ContainersNotReady"
			}
		}
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			cs.Ready, cs.State = false, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
		}
	}
}

// ready makes a pod Ready again.
func ready(p *corev1.Pod) {
	now := metav1.Now()
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.LastTransitionTime, c.Reason = corev1.ConditionTrue, now, ""
		}
	}
	for i := range p.Status.ContainerStatuses {
		cs := &p.Status.ContainerStatuses[i]
		cs.Ready, cs.State = true, corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	}
}

// restarted records a restart of every container, its last run ended for reason at at.
func restarted(reason string, at time.Time) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		for i := range p.Status.ContainerStatuses {
			cs := &p.Status.ContainerStatuses[i]
			cs.RestartCount++
			cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: reason, ExitCode: 137, StartedAt: metav1.NewTime(at.Add(-time.Minute)), FinishedAt: metav1.NewTime(at)}}
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at.Add(time.Second))}}
		}
	}
}

// Issue 15: the first step waits until every canary pod is Ready (phase
// WaitingForCanary, saying which pod and why), moving no traffic; then it starts.
func TestHealthGateWaitsForCanaryPods(t *testing.T) {
	s := newRollout(t, "gate", 200, "")
	wl := s.WatchWeights("reviews")
	pod := s.Pods["v2"][0].Name
	s.updatePodStatus(pod, notReady("ContainerCreating"))
	s.Annotate(fastRollout("v2"))
	ts := s.WaitTS(15*time.Second, "WaitingForCanary", scenario.PhaseIs(sluicev1alpha1.PhaseWaitingForCanary))
	if d := ts.Status.LastDecision; d == nil || !strings.Contains(d.Message, pod) || !strings.Contains(d.Message, "ContainerCreating") || !strings.Contains(d.Message, "1 of 2 pods Ready") {
		t.Fatalf("the wait does not say which pod and why: %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "WaitingForCanary", pod)
	time.Sleep(2 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseWaitingForCanary || ts.Status.Weight != 0 {
		t.Fatalf("moved traffic before the canary was Ready: %s", scenario.StatusJSON(ts))
	}
	if seq := wl.CanarySeq("v2"); len(seq) > 1 || (len(seq) == 1 && seq[0] != 0) {
		t.Fatalf("the VirtualService changed while waiting: %v", seq)
	}
	readyAt := time.Now()
	s.updatePodStatus(pod, ready)
	s.WaitTS(10*time.Second, "started", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	at, ok := wl.FirstAfter(readyAt, "v2", 5)
	if !ok {
		t.Fatalf("no first step after the pod became Ready: %v", wl.CanarySeq("v2"))
	}
	t.Logf("canary pod Ready → first step written: %s", at.Sub(readyAt).Round(time.Millisecond))
}

// Issue 15: a canary container restarting mid-rollout (an OOM kill) rolls the canary
// back, naming the pod, the container and the cause.
func TestCanaryRestartRollsBack(t *testing.T) {
	s := newRollout(t, "restart", 200, "")
	wl := s.WatchWeights("reviews")
	s.Annotate(heldRollout("v2"))
	s.WaitTS(20*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	pod := s.Pods["v2"][1].Name
	fault := time.Now()
	s.updatePodStatus(pod, restarted("OOMKilled", fault))
	ts := s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 3*time.Second)
	d := ts.Status.LastDecision
	if d == nil || d.Reason != "CanaryPodUnhealthy" || !strings.Contains(d.Message, pod) || !strings.Contains(d.Message, "container app") || !strings.Contains(d.Message, "OOMKilled") {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
}

// Issue 15: a restart that stable's pods show at the same time (a node drain or reboot)
// is not blamed on the canary.
func TestSharedRestartIsNotBlamedOnCanary(t *testing.T) {
	s := newRollout(t, "drain", 200, "")
	s.Annotate(heldRollout("v2"))
	s.WaitTS(20*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	at := time.Now()
	s.updatePodStatus(s.Pods["v1"][0].Name, restarted("Error", at))
	s.updatePodStatus(s.Pods["v2"][0].Name, restarted("Error", at.Add(20*time.Second)))
	time.Sleep(3 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 5 {
		t.Fatalf("a restart stable shared was blamed on the canary: %s", scenario.StatusJSON(ts))
	}
}
