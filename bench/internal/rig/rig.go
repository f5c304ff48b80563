// Package rig is the set-up the end-to-end benchmarks share: the real kube-apiserver and
// etcd, a Service with DestinationRule and VirtualService, stand-in pods serving Istio
// stats, the controller in this process, and a watch of the VirtualService; and one
// measurement: a rollout held at its 5 % step, an injected trigger, and the time to the
// VirtualService watch event with the canary at weight 0.
package rig

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// The Service the rig rolls out: reviews in namespace bench, stable v1, canary v2.
const (
	Namespace, Service, Stable, Canary = "bench", "reviews", "v1", "v2"
)

// Rig is a running set-up.
type Rig struct {
	Cluster *cluster.Cluster
	Fleet   *standin.Fleet
	VS      *vswatch.Log
	ctrl    *inproc.Controller
	tokens  int
	// cancel ends the watches the rig runs, so the API server can stop.
	cancel context.CancelFunc
}

// Start brings the rig up with the controller options o (its log in dir); ann are extra
// annotations of the Service (a policy, say).
func Start(ctx context.Context, dir string, o manager.Options, ann map[string]string) (*Rig, error) {
	c, err := cluster.Start(ctx)
	if err != nil {
		return nil, err
	}
	r := &Rig{Cluster: c}
	ctx, r.cancel = context.WithCancel(ctx)
	if err := r.start(ctx, dir, o, ann); err != nil {
		return nil, errors.Join(err, r.Stop())
	}
	return r, nil
}

func (r *Rig) start(ctx context.Context, dir string, o manager.Options, ann map[string]string) error {
	kube, err := kubernetes.NewForConfig(r.Cluster.Config)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(r.Cluster.Config)
	if err != nil {
		return err
	}
	if err := r.objects(ctx, ann); err != nil {
		return err
	}
	r.Fleet, err = standin.Start(ctx, standin.Config{Client: kube, Dynamic: dyn, Namespace: Namespace, Service: Service, VirtualService: Service, Rate: 200, IPPrefix: "127.0.91.", Seed: 1})
	if err != nil {
		return err
	}
	for _, v := range []string{Stable, Canary} {
		if _, err := r.Fleet.AddPods(ctx, v, map[string]string{"app": Service, "version": v}, 2); err != nil {
			return err
		}
	}
	if r.ctrl, err = inproc.Start(ctx, r.Cluster.Config, o, filepath.Join(dir, "controller.log")); err != nil {
		return err
	}
	r.VS, err = vswatch.Watch(ctx, dyn, Namespace, Service, Service)
	return err
}

func (r *Rig) objects(ctx context.Context, ann map[string]string) error {
	labels := func(v string) map[string]string { return map[string]string{"app": Service, "version": v} }
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: Namespace, Annotations: ann},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": Service}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}}},
		&networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: Namespace},
			Spec: istiov1.DestinationRule{Host: Service, Subsets: []*istiov1.Subset{{Name: Stable, Labels: labels(Stable)}, {Name: Canary, Labels: labels(Canary)}}}},
		&networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: Namespace},
			Spec: istiov1.VirtualService{Hosts: []string{Service}, Http: []*istiov1.HTTPRoute{{Route: []*istiov1.HTTPRouteDestination{{Destination: &istiov1.Destination{Host: Service, Subset: Stable}}}}}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: Service + "-" + Stable, Namespace: Namespace}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels(Stable)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(Stable)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: Service, Image: "example.invalid/reviews:" + Stable}}}}}},
	}
	for _, o := range objs {
		if err := r.Cluster.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// Measure starts (or retries) the rollout of the canary, waits until it is held at its
// 5 % step, calls trigger, and returns the milliseconds from the call to the
// VirtualService watch event with the canary at 0.
func (r *Rig) Measure(ctx context.Context, trigger func(context.Context) error) (float64, error) {
	r.tokens++
	token := fmt.Sprintf("%s@%d", Canary, r.tokens)
	ann := fmt.Sprintf(`{"metadata":{"annotations":{"sluice.dev/enabled":"true","sluice.dev/canary":%q,"sluice.dev/steps":"5,100","sluice.dev/step-duration":"10m","sluice.dev/retry":%q}}}`, Canary, token)
	if err := r.Cluster.Client.Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: Namespace}}, client.RawPatch(types.MergePatchType, []byte(ann))); err != nil {
		return 0, fmt.Errorf("starting the rollout: %w", err)
	}
	if err := r.Wait(ctx, 30*time.Second, func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5 && ts.Status.LastRetry == token
	}); err != nil {
		return 0, err
	}
	sent := time.Now()
	if err := trigger(ctx); err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if at, ok := r.VS.FirstAfter(sent, Canary, 0); ok {
			if err := r.Wait(ctx, 10*time.Second, func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Phase == sluicev1alpha1.PhaseRolledBack }); err != nil {
				return 0, err
			}
			return float64(at.Sub(sent).Microseconds()) / 1000, nil
		}
	}
	return 0, fmt.Errorf("no canary weight 0 within 15s of the trigger")
}

// Wait polls the TrafficShift until cond holds.
func (r *Rig) Wait(ctx context.Context, timeout time.Duration, cond func(*sluicev1alpha1.TrafficShift) bool) error {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ts := &sluicev1alpha1.TrafficShift{}
		if err := r.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: Service}, ts); err == nil && cond(ts) {
			return nil
		}
	}
	return fmt.Errorf("TrafficShift %s/%s did not reach the expected state within %s", Namespace, Service, timeout)
}

// Stop stops the controller, the stand-ins and the cluster, returning the first error.
func (r *Rig) Stop() error {
	var errs []error
	if r.ctrl != nil {
		errs = append(errs, r.ctrl.Stop())
	}
	if r.Fleet != nil {
		r.Fleet.Stop()
	}
	r.cancel()
	errs = append(errs, r.Cluster.Stop())
	return errors.Join(errs...)
}
