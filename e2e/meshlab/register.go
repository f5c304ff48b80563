package meshlab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Apply creates every object of a multi-document YAML, or updates it when it exists.
func Apply(ctx context.Context, c client.Client, docs string) error {
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return fmt.Errorf("applying YAML: %w", err)
		}
		err := c.Create(ctx, &u)
		if apierrors.IsAlreadyExists(err) {
			var cur unstructured.Unstructured
			cur.SetGroupVersionKind(u.GroupVersionKind())
			if err = c.Get(ctx, client.ObjectKeyFromObject(&u), &cur); err == nil {
				u.SetResourceVersion(cur.GetResourceVersion())
				err = c.Update(ctx, &u)
			}
		}
		if err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// RegisterWorkload makes a backend known to istiod and to sluice: a WorkloadEntry (which
// the Service's selector picks up; the API server refuses 127.x EndpointSlices) and a
// Running, Ready Pod with the same labels and podIP.
func RegisterWorkload(ctx context.Context, c client.Client, namespace, name, ip string, labels map[string]string) error {
	we := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "networking.istio.io/v1",
		"kind":       "WorkloadEntry",
		"metadata":   map[string]any{"name": name, "namespace": namespace, "labels": toAny(labels)},
		"spec":       map[string]any{"address": ip, "labels": toAny(labels)},
	}}
	if err := c.Create(ctx, we); err != nil {
		return fmt.Errorf("creating WorkloadEntry %s/%s: %w", namespace, name, err)
	}
	return RegisterPod(ctx, c, namespace, name, ip, labels)
}

// UnregisterWorkload deletes what RegisterWorkload created.
func UnregisterWorkload(ctx context.Context, c client.Client, namespace, name string) error {
	we := &unstructured.Unstructured{}
	we.SetAPIVersion("networking.istio.io/v1")
	we.SetKind("WorkloadEntry")
	we.SetNamespace(namespace)
	we.SetName(name)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	var errs []error
	for _, o := range []client.Object{we, pod} {
		if err := c.Delete(ctx, o); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s/%s: %w", namespace, name, err))
		}
	}
	return errors.Join(errs...)
}

// RegisterPod creates a Pod and sets its status as a kubelet would for a started,
// Ready pod at ip.
func RegisterPod(ctx context.Context, c client.Client, namespace, name, ip string, labels map[string]string) error {
	noToken, zero := false, int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: maps.Clone(labels)},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: "meshlab"},
				{Name: "istio-proxy", Image: "meshlab", Ports: []corev1.ContainerPort{
					{Name: "http-envoy-prom", ContainerPort: StatsPort, Protocol: corev1.ProtocolTCP},
				}},
			},
			AutomountServiceAccountToken:  &noToken,
			TerminationGracePeriodSeconds: &zero,
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		return fmt.Errorf("creating pod %s/%s: %w", namespace, name, err)
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &now, QOSClass: corev1.PodQOSBestEffort}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		pod.Status.Conditions = append(pod.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	started := true
	for _, ct := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: ct.Name, Image: ct.Image, Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("setting status of pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
