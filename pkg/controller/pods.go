package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/cacheindex"
	"github.com/sluicedev/sluice/pkg/lifecycle"
)

// allSubsetPods lists every pod of subset, Ready or not, from the cache (the Service's
// selector plus the DestinationRule subset's labels), once per reconcile. The pods are
// read-only: with an Index they are the rollout's copies, shared by its ticks until the cache's
// pods change; without, they share their maps and slices with the cache (no deep copy, as
// for the DestinationRules).
func (r *Reconciler) allSubsetPods(ctx context.Context, w *world, subset string) ([]corev1.Pod, error) {
	if pods, ok := w.pods[subset]; ok {
		return pods, nil
	}
	sel := subsetSelector(w, subset).AsSelector()
	var pods []corev1.Pod
	if r.Index != nil {
		// By a label of the Service's selector: the subset's labels (version=v2) are
		// often shared by every Service's pods.
		found, err := r.Index.Pods(w.svc.Namespace, sel, slices.Sorted(maps.Keys(w.svc.Spec.Selector))...)
		if err != nil {
			return nil, fmt.Errorf("listing pods of subset %q: %w", subset, err)
		}
		found = slices.DeleteFunc(found, func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
		pods = r.podCopies(w, subset).Of(found)
	} else {
		list := &corev1.PodList{}
		if err := r.Client.List(ctx, list, client.InNamespace(w.svc.Namespace), client.MatchingLabelsSelector{Selector: sel}, client.UnsafeDisableDeepCopy); err != nil {
			return nil, fmt.Errorf("listing pods of subset %q: %w", subset, err)
		}
		pods = slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
	}
	if w.pods == nil {
		w.pods = map[string][]corev1.Pod{}
	}
	w.pods[subset] = pods
	return pods, nil
}

// podCopies returns where the copies of subset's pods are kept: the rollout's memory, or
// a new PodCopies for a Service with no rollout in memory.
func (r *Reconciler) podCopies(w *world, subset string) *cacheindex.PodCopies {
	rm := r.mem.peek(client.ObjectKeyFromObject(w.svc))
	if rm == nil {
		return &cacheindex.PodCopies{}
	}
	r.mem.mu.Lock()
	defer r.mem.mu.Unlock()
	if rm.pods == nil {
		rm.pods = map[string]*cacheindex.PodCopies{}
	}
	c := rm.pods[subset]
	if c == nil {
		c = &cacheindex.PodCopies{}
		rm.pods[subset] = c
	}
	return c
}

// readiness counts the Ready pods and says why the others are not.
func readiness(pods []corev1.Pod) lifecycle.Readiness {
	r := lifecycle.Readiness{Total: len(pods)}
	for i := range pods {
		p := &pods[i]
		if ready, _ := readyCondition(p); ready {
			r.Ready++
			continue
		}
		r.NotReady = append(r.NotReady, p.Name+": "+notReadyWhy(p))
	}
	return r
}

// notReadyWhy says why a pod is not Ready: its containers' waiting reasons, else its
// Ready condition's reason and message, else its phase.
func notReadyWhy(p *corev1.Pod) string {
	var why []string
	for _, c := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := c.State.Waiting; w != nil && w.Reason != "" {
			why = append(why, fmt.Sprintf("container %s %s", c.Name, w.Reason))
		}
	}
	if len(why) > 0 {
		return strings.Join(why, ", ")
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && (c.Reason != "" || c.Message != "") {
			return strings.TrimSpace(c.Reason + " " + c.Message)
		}
	}
	return "phase " + string(p.Status.Phase)
}

// readyCondition reports the pod's Ready condition and since when it holds.
func readyCondition(p *corev1.Pod) (bool, corev1.PodCondition) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c
		}
	}
	return false, corev1.PodCondition{}
}

// podStates are the pods as the pod-health check reads them.
func podStatesOf(pods []corev1.Pod) []analysis.PodState {
	out := make([]analysis.PodState, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		ready, cond := readyCondition(p)
		s := analysis.PodState{Name: p.Name, Ready: ready}
		if !ready {
			s.NotReadySince = cond.LastTransitionTime.Time
			if s.NotReadySince.IsZero() {
				s.NotReadySince = p.CreationTimestamp.Time
			}
		}
		for _, c := range p.Status.ContainerStatuses {
			cs := analysis.ContainerState{Name: c.Name}
			if w := c.State.Waiting; w != nil {
				cs.Waiting = w.Reason
			}
			if t := c.LastTerminationState.Terminated; t != nil {
				cs.Terminated, cs.TerminatedAt = t.Reason, t.FinishedAt.Time
				if cs.Terminated == "" {
					cs.Terminated = fmt.Sprintf("exit code %d", t.ExitCode)
				}
			}
			s.Containers = append(s.Containers, cs)
		}
		out = append(out, s)
	}
	return out
}

// readyOnly keeps the pods that are Ready and have an IP: the ones stats are read from.
// When all are, it returns pods itself (read-only, as pods is).
func readyOnly(pods []corev1.Pod) []corev1.Pod {
	idle := func(p corev1.Pod) bool {
		ready, _ := readyCondition(&p)
		return !ready || p.Status.PodIP == ""
	}
	if !slices.ContainsFunc(pods, idle) {
		return pods
	}
	return slices.DeleteFunc(slices.Clone(pods), idle)
}

// podStates are the canary's and stable's pods for the pod-health check.
func (r *Reconciler) podStates(ctx context.Context, w *world, canary, stable string) (c, s []analysis.PodState, err error) {
	cp, err := r.allSubsetPods(ctx, w, canary)
	if err != nil {
		return nil, nil, err
	}
	sp, err := r.allSubsetPods(ctx, w, stable)
	if err != nil {
		return nil, nil, err
	}
	return podStatesOf(cp), podStatesOf(sp), nil
}
