package e2e

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
)

// podWithoutStats creates a Ready pod of subset at ip, where nothing listens: its stats
// cannot be read.
func (s *rollout) podWithoutStats(subset, ip string) *corev1.Pod {
	s.T.Helper()
	return s.createPod(fmt.Sprintf("%s-%s-nostats", s.Svc, subset), subset, func(p *corev1.Pod) {
		qos := p.Status.QOSClass // set by the API server at creation; immutable
		p.Status = podStatus(ip, true, time.Now())
		p.Status.QOSClass = qos
	})
}

// createPod creates a pod of subset named name, then sets its status with edit, as the
// kubelet would.
func (s *rollout) createPod(name, subset string, edit func(*corev1.Pod)) *corev1.Pod {
	s.T.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.NS, Labels: map[string]string{"app": s.Svc, "version": subset}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/" + s.Svc + ":" + subset}}},
	}
	created, err := kube.CoreV1().Pods(s.NS).Create(s.Ctx, p, metav1.CreateOptions{})
	scenario.Must(s.T, err)
	edit(created)
	updated, err := kube.CoreV1().Pods(s.NS).UpdateStatus(s.Ctx, created, metav1.UpdateOptions{})
	scenario.Must(s.T, err)
	return updated
}

// updatePodStatus changes a pod's status as the kubelet would.
func (s *rollout) updatePodStatus(name string, edit func(*corev1.Pod)) {
	s.T.Helper()
	p, err := kube.CoreV1().Pods(s.NS).Get(s.Ctx, name, metav1.GetOptions{})
	scenario.Must(s.T, err)
	edit(p)
	_, err = kube.CoreV1().Pods(s.NS).UpdateStatus(s.Ctx, p, metav1.UpdateOptions{})
	scenario.Must(s.T, err)
}

// podStatus is a running pod's status at ip, Ready or not since at.
func podStatus(ip string, ready bool, at time.Time) corev1.PodStatus {
	cond := corev1.ConditionFalse
	if ready {
		cond = corev1.ConditionTrue
	}
	since := metav1.NewTime(at)
	return corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &since,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: since},
			{Type: corev1.ContainersReady, Status: cond, LastTransitionTime: since},
			{Type: corev1.PodReady, Status: cond, LastTransitionTime: since},
		},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: ready, Image: "example.invalid/app", ImageID: "example.invalid/app@sha256:0",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: since}}}},
	}
}
