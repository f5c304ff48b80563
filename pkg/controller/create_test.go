package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/pkg/ownwrites"
)

// lagging is an informer cache that has not seen any object yet, as after the API server
// restarts, when the informers resume watching only after their backoff.
type lagging struct{}

func (lagging) Get(_ context.Context, k client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: "sluice.dev", Resource: "trafficshifts"}, k.Name)
}

func (lagging) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

// TestCreateTrafficShiftWhenTheCacheLags: the cache says a Service has no TrafficShift,
// the create finds one: the TrafficShift is read from the API server, never taken as
// absent (which once made every reconcile of the Service panic until the cache caught up).
func TestCreateTrafficShiftWhenTheCacheLags(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx)
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	defer func() { _ = c.Stop() }()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "lagging"}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "reviews"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 9080}}}}
	for _, o := range []client.Object{ns, svc} {
		if err := c.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	r := &Reconciler{Client: c.Client, APIReader: c.Client, Fresh: ownwrites.New(lagging{}, c.Client)}

	first, err := r.createTrafficShift(ctx, svc)
	if err != nil || first == nil {
		t.Fatalf("first create: %v, %v", first, err)
	}
	// The reconciles after it: the cache still has nothing, the write's record has expired.
	for i := range 3 {
		r.Fresh = ownwrites.New(lagging{}, c.Client)
		got, err := r.createTrafficShift(ctx, svc)
		if err != nil {
			t.Fatalf("create %d with the TrafficShift there: %v", i+2, err)
		}
		if got == nil || got.UID != first.UID || got.Spec.Service != svc.Name {
			t.Fatalf("create %d with the TrafficShift there returned %+v, want the one created (UID %s)", i+2, got, first.UID)
		}
	}
}
