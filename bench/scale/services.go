package main

import (
	"context"
	"fmt"
	"time"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Every Service is rolled out from v1 to v2, held at its 5 % step by a day-long dwell.
const (
	stable, canary = "v1", "v2"
	perNamespace   = 10
)

// name is Service i's namespace and name; Service 0 is the one whose canary goes bad.
func name(i int) (ns, svc string) {
	return fmt.Sprintf("scale-%03d", i/perNamespace), fmt.Sprintf("svc-%04d", i)
}

// ipPrefix gives Service i's pods 127.(10+i/250).(i%250).1-4.
func ipPrefix(i int) string { return fmt.Sprintf("127.%d.%d.", 10+i/250, i%250) }

// service creates Service i (opted in, its rollout of v2 annotated), its DestinationRule
// and VirtualService, its stand-ins (two pods per subset, joined to the gateway).
func (b *bench) service(ctx context.Context, i int) error {
	ns, svc := name(i)
	if i%perNamespace == 0 {
		if err := b.c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err := b.waitNamespace(ctx, ns); err != nil {
		return err
	}
	for _, o := range routing(ns, svc) {
		if err := b.c.Client.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s/%s: %w", o, ns, svc, err)
		}
	}
	cfg := standin.Config{Client: b.kube, Dynamic: b.dyn, Namespace: ns, Service: svc, VirtualService: svc,
		Rate: b.o.Rate, IPPrefix: ipPrefix(i), Seed: uint64(i + 1), SliceEvery: 100 * time.Millisecond}
	if i == 0 {
		cfg.Rate, cfg.SliceEvery = b.o.BadRate, 0
	}
	f, err := standin.Start(ctx, cfg)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.fleets = append(b.fleets, f)
	b.mu.Unlock()
	for _, v := range []string{stable, canary} {
		if _, err := f.AddPods(ctx, v, map[string]string{"app": svc, "version": v}, 2); err != nil {
			return err
		}
	}
	if err := f.JoinGateway(ctx, b.gw); err != nil {
		return err
	}
	if i == 0 {
		b.bad = f
		b.badVS, err = vswatch.Watch(ctx, b.dyn, ns, svc, svc)
	}
	return err
}

// waitNamespace waits for the namespace another worker creates.
func (b *bench) waitNamespace(ctx context.Context, ns string) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := b.c.Client.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}); err == nil {
			return nil
		}
	}
	return fmt.Errorf("namespace %s not created within a minute", ns)
}

// routing is the Service (annotated; headless, since the test API server's Service IP
// range holds 256 addresses and sluice reads no cluster IP), its DestinationRule and its
// VirtualService (v1 at 100).
func routing(ns, svc string) []client.Object {
	labels := func(v string) map[string]string { return map[string]string{"app": svc, "version": v} }
	ann := map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": canary, "sluice.dev/steps": "5,100",
		"sluice.dev/step-duration": "24h", "sluice.dev/stats-from": statsFrom}
	return []client.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns, Annotations: ann},
			Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": svc}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}}},
		&networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: istiov1.DestinationRule{Host: svc, Subsets: []*istiov1.Subset{{Name: stable, Labels: labels(stable)}, {Name: canary, Labels: labels(canary)}}}},
		&networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns},
			Spec: istiov1.VirtualService{Hosts: []string{svc}, Http: []*istiov1.HTTPRoute{{Route: []*istiov1.HTTPRouteDestination{{Destination: &istiov1.Destination{Host: svc, Subset: stable}}}}}}},
	}
}

// held reports whether ts's rollout is active at the 5 % step.
func held(ts *sluicev1alpha1.TrafficShift) bool {
	return ts.Status.Weight == 5 && (ts.Status.Phase == sluicev1alpha1.PhaseProgressing || ts.Status.Phase == sluicev1alpha1.PhasePaused)
}

// phases counts the TrafficShifts by phase and how many are held at 5 %.
func (b *bench) phases(ctx context.Context) (map[string]int, int, error) {
	list := &sluicev1alpha1.TrafficShiftList{}
	if err := b.c.Client.List(ctx, list); err != nil {
		return nil, 0, err
	}
	out, n := map[string]int{}, 0
	for i := range list.Items {
		ts := &list.Items[i]
		out[string(ts.Status.Phase)]++
		if held(ts) {
			n++
		}
	}
	return out, n, nil
}

// waitHeld waits until every rollout is held at 5 %. When some are not by the timeout,
// it says how many are and the window measures what the controller then carries; none
// is an error.
func (b *bench) waitHeld(ctx context.Context, timeout time.Duration) (string, error) {
	var last map[string]int
	var n int
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(time.Second) {
		ph, h, err := b.phases(ctx)
		if err == nil && h == b.n {
			return "", nil
		}
		last, n = ph, h
	}
	if n > 0 {
		return fmt.Sprintf("only %d of %d rollouts were at 5 %% %s after sluice started (TrafficShifts by phase: %v); the window measured that state", n, b.n, timeout, last), nil
	}
	var missing []string
	for i := range b.n {
		if ts, err := b.trafficShift(ctx, i); err != nil || !held(ts) {
			ns, svc := name(i)
			missing = append(missing, fmt.Sprintf("%s/%s (%v)", ns, svc, err))
		}
	}
	return "", fmt.Errorf("no rollout at 5 %% within %s: phases %v; not held: %v", timeout, last, missing[:min(len(missing), 12)])
}

// annotate merges ann into Service i's annotations.
func (b *bench) annotate(ctx context.Context, i int, key, value string) error {
	ns, svc := name(i)
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	return b.c.Client.Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns}}, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// trafficShift reads Service i's TrafficShift.
func (b *bench) trafficShift(ctx context.Context, i int) (*sluicev1alpha1.TrafficShift, error) {
	ns, svc := name(i)
	ts := &sluicev1alpha1.TrafficShift{}
	return ts, b.c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: svc}, ts)
}
