package e2e

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
)

var (
	nsCounter atomic.Int32
	vsGVR     = standin.VirtualServiceGVR
)

// rollout is one namespace with a Service, its routing objects, two Deployments nothing
// runs, and stand-in pods whose traffic follows the VirtualService (e2e/scenario).
type rollout struct{ *scenario.Scenario }

// newRollout builds the namespace for Service reviews; rate is the total request rate of
// the stand-in traffic; routing "" means scenario.Routing.
func newRollout(t *testing.T, name string, rate float64, routing string) *rollout {
	t.Helper()
	return newRolloutFor(t, name, "reviews", rate, routing)
}

// newRolloutFor is newRollout for Service svc (selector app=svc, pods v1 ×2, v2 ×2, v3 ×1),
// following VirtualService svc.
func newRolloutFor(t *testing.T, name, svc string, rate float64, routing string) *rollout {
	t.Helper()
	if routing == "" {
		routing = scenario.Routing
	}
	n := nsCounter.Add(1)
	s := scenario.New(t, clients, scenario.Spec{
		Namespace: fmt.Sprintf("e2e-%s-%d", name, n), Service: svc, Routing: routing,
		Pods: map[string]int{"v1": 2, "v2": 2, "v3": 1},
		Rate: rate, IPPrefix: fmt.Sprintf("127.10.%d.", n%256), Seed: uint64(n),
	})
	for _, v := range []string{"v1", "v2"} {
		scenario.Must(t, env.Client.Create(s.Ctx, deployment(s.NS, svc+"-"+v, svc, v)))
	}
	return &rollout{s}
}

func deployment(ns, name, app, version string) *appsv1.Deployment {
	labels := map[string]string{"app": app, "version": version}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "example.invalid/" + app + ":" + version}}},
			},
		},
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
