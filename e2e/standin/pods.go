package standin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Image is the image of every stand-in container; nothing ever pulls or runs it.
const Image = "example.invalid/standin"

// standinPod is one pod of the fleet: its object's name, its subset and its sidecar.
type standinPod struct {
	name, subset string
	stats        *podStats
	server       *statsServer
}

// AddPods creates n pods of subset with the given labels (the Service's selector plus
// the subset's labels), sets their status to Running and Ready with podIP
// IPPrefix+N, starts their stats servers and then routes traffic to them. It returns
// the pods as the API server stored them. On error, the pods created so far stay.
func (f *Fleet) AddPods(ctx context.Context, subset string, labels map[string]string, n int) ([]*corev1.Pod, error) {
	out := make([]*corev1.Pod, 0, n)
	for range n {
		p, err := f.addPod(ctx, subset, labels)
		if err != nil {
			return out, fmt.Errorf("adding stand-in pods of subset %q: %w", subset, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (f *Fleet) addPod(ctx context.Context, subset string, labels map[string]string) (*corev1.Pod, error) {
	n, ip, err := f.reserveIP()
	if err != nil {
		return nil, err
	}
	stats := newPodStats(identity(f.cfg.Namespace, f.cfg.Service, subset, labels))
	srv, err := startStatsServer(ip, stats)
	if err != nil {
		return nil, err
	}
	obj := podObject(f.cfg.Namespace, fmt.Sprintf("%s-%s-standin-%d", f.cfg.Service, subset, n), labels)
	obj.Spec.SchedulerName = f.cfg.SchedulerName
	pod, err := f.createReadyPod(ctx, obj, ip.String())
	if err != nil {
		srv.close()
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		srv.close()
		return nil, errors.New("fleet stopped while adding a pod")
	}
	f.pods[pod.Name] = &standinPod{name: pod.Name, subset: subset, stats: stats, server: srv}
	f.order[subset] = append(f.order[subset], pod.Name)
	return pod, nil
}

// createReadyPod creates pod and sets its status as a kubelet would for a started,
// Ready pod at ip. If the status update fails, it deletes the pod again.
func (f *Fleet) createReadyPod(ctx context.Context, pod *corev1.Pod, ip string) (*corev1.Pod, error) {
	return createReadyPod(ctx, f.cfg.Client, pod, ip)
}

func createReadyPod(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, ip string) (*corev1.Pod, error) {
	pods := client.CoreV1().Pods(pod.Namespace)
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	created.Status = readyStatus(created, ip, metav1.Now())
	updated, err := pods.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		_ = pods.Delete(context.WithoutCancel(ctx), created.Name, metav1.DeleteOptions{})
		return nil, fmt.Errorf("setting status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return updated, nil
}

// podObject is a pod as an Istio-injected Deployment would create it: an app
// container and an istio-proxy container exposing the stats port.
func podObject(namespace, name string, labels map[string]string) *corev1.Pod {
	noToken, zero := false, int64(0)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: maps.Clone(labels)},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "app", Image: Image},
				{Name: "istio-proxy", Image: Image, Ports: []corev1.ContainerPort{
					{Name: "http-envoy-prom", ContainerPort: StatsPort, Protocol: corev1.ProtocolTCP},
				}},
			},
			AutomountServiceAccountToken:  &noToken,
			TerminationGracePeriodSeconds: &zero,
		},
	}
}

// readyStatus is the status of pod once every container runs and is ready.
func readyStatus(pod *corev1.Pod, ip string, now metav1.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		PodIP:     ip,
		PodIPs:    []corev1.PodIP{{IP: ip}},
		StartTime: &now,
		QOSClass:  pod.Status.QOSClass, // set by the API server at creation; immutable
	}
	if st.QOSClass == "" {
		st.QOSClass = corev1.PodQOSBestEffort
	}
	for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	for _, c := range pod.Spec.Containers {
		started := true
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name:    c.Name,
			Image:   c.Image,
			Ready:   true,
			Started: &started,
			State:   corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return st
}

// identity is what the pod's sidecar reports as its destination labels, taken from
// the pod labels the way Istio does (app/version, canonical-name/revision).
func identity(namespace, service, subset string, labels map[string]string) workload {
	first := func(def string, keys ...string) string {
		for _, k := range keys {
			if v := labels[k]; v != "" {
				return v
			}
		}
		return def
	}
	app := first(service, "app", "app.kubernetes.io/name")
	return workload{
		Namespace:         namespace,
		Service:           service,
		Workload:          service + "-" + subset,
		App:               app,
		Version:           first(subset, "version", "app.kubernetes.io/version"),
		CanonicalService:  first(app, "service.istio.io/canonical-name", "app.kubernetes.io/name", "app"),
		CanonicalRevision: first("latest", "service.istio.io/canonical-revision", "app.kubernetes.io/version", "version"),
	}
}

// DeletePod stops routing to the pod, stops its stats server and deletes its object.
func (f *Fleet) DeletePod(ctx context.Context, name string) error {
	f.mu.Lock()
	p, ok := f.pods[name]
	if ok {
		delete(f.pods, name)
		f.order[p.subset] = slices.DeleteFunc(slices.Clone(f.order[p.subset]), func(s string) bool { return s == name })
	}
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("deleting stand-in pod %s/%s: not a running pod of this fleet", f.cfg.Namespace, name)
	}
	p.server.close()
	zero := int64(0)
	if err := f.cfg.Client.CoreV1().Pods(f.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return fmt.Errorf("deleting stand-in pod %s/%s: %w", f.cfg.Namespace, name, err)
	}
	return nil
}

// Pods returns the names of the subset's running stand-in pods, oldest first.
func (f *Fleet) Pods(subset string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.order[subset])
}

// reserveIP hands out the next pod number and its address (IPPrefix+N).
func (f *Fleet) reserveIP() (int, netip.Addr, error) {
	f.mu.Lock()
	if f.stopped {
		f.mu.Unlock()
		return 0, netip.Addr{}, errors.New("fleet is stopped")
	}
	n := f.nextN
	f.nextN++
	f.mu.Unlock()
	ip, err := podIP(f.cfg.IPPrefix, n)
	return n, ip, err
}
