package install

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"testing"
	"time"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// service is the stand-in reviews Service of one namespace: its Service, DestinationRule
// (subsets v1, v2, v3), VirtualService (v1 alone), two Deployments nothing runs, and
// stand-in pods (two per subset) serving Istio stats that follow the VirtualService.
// The test sets it all up as an administrator; only the controller runs as sluice.
type service struct {
	t     *testing.T
	ns    string
	fleet *standin.Fleet
}

// serviceName is the Service every test rolls out.
const serviceName = "reviews"

func newService(t *testing.T, ns, ipPrefix string, seed uint64) *service {
	t.Helper()
	ctx := context.Background()
	labels := func(v string) map[string]string { return map[string]string{"app": serviceName, "version": v} }
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: ns}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": serviceName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}}},
		&networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: ns}, Spec: istiov1.DestinationRule{
			Host: serviceName, Subsets: []*istiov1.Subset{{Name: "v1", Labels: labels("v1")}, {Name: "v2", Labels: labels("v2")}, {Name: "v3", Labels: labels("v3")}}}},
		originalVirtualService(ns),
	}
	for _, v := range []string{"v1", "v2"} {
		objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: serviceName + "-" + v, Namespace: ns}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels(v)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(v)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: serviceName, Image: "example.invalid/reviews:" + v}}}}}})
	}
	for _, o := range objs {
		must(t, adminC.Create(ctx, o))
	}
	fleet, err := standin.Start(ctx, standin.Config{Client: kube, Dynamic: dyn, Namespace: ns, Service: serviceName,
		VirtualService: serviceName, Rate: 200, IPPrefix: ipPrefix, Seed: seed})
	must(t, err)
	t.Cleanup(fleet.Stop)
	for _, v := range []string{"v1", "v2", "v3"} {
		_, err := fleet.AddPods(ctx, v, labels(v), 2)
		must(t, err)
	}
	return &service{t: t, ns: ns, fleet: fleet}
}

// originalVirtualService is the VirtualService as its owner wrote it (and a GitOps
// repository holds it): one route, the stable subset alone, no weights.
func originalVirtualService(ns string) *networkingv1.VirtualService {
	return &networkingv1.VirtualService{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.istio.io/v1", Kind: "VirtualService"},
		ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: ns},
		Spec: istiov1.VirtualService{Hosts: []string{serviceName}, Http: []*istiov1.HTTPRoute{{
			Route: []*istiov1.HTTPRouteDestination{{Destination: &istiov1.Destination{Host: serviceName, Subset: "v1"}}}}}},
	}
}

// annotate merges ann into the Service's annotations (a null value removes one).
func (s *service) annotate(ann map[string]any) {
	s.t.Helper()
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	must(s.t, err)
	must(s.t, adminC.Patch(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: serviceName, Namespace: s.ns}},
		client.RawPatch(types.MergePatchType, patch)))
}

// waitTS polls the TrafficShift until cond holds and returns it.
func (s *service) waitTS(timeout time.Duration, what string, cond func(*sluicev1alpha1.TrafficShift) bool) *sluicev1alpha1.TrafficShift {
	s.t.Helper()
	ts := &sluicev1alpha1.TrafficShift{}
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		err := adminC.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: serviceName}, ts)
		if err == nil && cond(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			st, _ := json.Marshal(ts.Status)
			s.t.Fatalf("%s/%s: no %s within %s (get: %v); status %s", s.ns, serviceName, what, timeout, err, st)
		}
	}
}

// weights reads the default route's weights by subset from the VirtualService.
func (s *service) weights() map[string]int32 {
	s.t.Helper()
	vs := s.virtualService()
	out := map[string]int32{}
	for _, d := range vs.Spec.Http[len(vs.Spec.Http)-1].Route {
		w := d.Weight
		if w == 0 && len(vs.Spec.Http[len(vs.Spec.Http)-1].Route) == 1 {
			w = 100
		}
		out[d.Destination.Subset] = w
	}
	return out
}

func (s *service) virtualService() *networkingv1.VirtualService {
	s.t.Helper()
	vs := &networkingv1.VirtualService{}
	must(s.t, adminC.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: serviceName}, vs))
	return vs
}

// wantWeights fails the test unless the route's weights are want.
func (s *service) wantWeights(what string, want map[string]int32) {
	s.t.Helper()
	if got := s.weights(); !maps.Equal(got, want) {
		s.t.Fatalf("%s: VirtualService weights %v, want %v", what, got, want)
	}
}

// resourceVersions of the Deployments, to show nothing wrote them.
func (s *service) deployments() string {
	s.t.Helper()
	var out string
	for _, v := range []string{"v1", "v2"} {
		d := &appsv1.Deployment{}
		must(s.t, adminC.Get(context.Background(), client.ObjectKey{Namespace: s.ns, Name: serviceName + "-" + v}, d))
		out += fmt.Sprintf("%s@%s ", d.Name, d.ResourceVersion)
	}
	return out
}

func phaseIs(p sluicev1alpha1.Phase) func(*sluicev1alpha1.TrafficShift) bool {
	return func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == p }
}
