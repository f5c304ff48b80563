package controller

import (
	"context"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// SetupWithManager registers the reconciler: Services are the key; their TrafficShifts,
// the VirtualServices and DestinationRules of their namespace, and ShiftPolicies map back
// to the opted-in Services they affect.
// A second manager in the same process (a restarted controller in tests) must set
// skipNameCheck, since controller names are registered process-wide.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int, skipNameCheck bool) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("sluice").
		For(&corev1.Service{}).
		Owns(&sluicev1alpha1.TrafficShift{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, alertRecorded{}))).
		Watches(&networkingv1.VirtualService{}, handler.EnqueueRequestsFromMapFunc(r.servicesInNamespace)).
		Watches(&networkingv1.DestinationRule{}, handler.EnqueueRequestsFromMapFunc(r.servicesInNamespace)).
		Watches(&sluicev1alpha1.ShiftPolicy{}, handler.EnqueueRequestsFromMapFunc(r.servicesUsingPolicy)).
		WatchesRawSource(r.wakeSource()).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, SkipNameValidation: &skipNameCheck,
			UsePriorityQueue: &fifo,
			RateLimiter:      workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](minFailureBackoff, maxFailureBackoff)}).
		Complete(r)
}

// fifo turns controller-runtime's priority queue (on by default since v0.23) off. It
// queues the initial list's Services at low priority and every requeued tick at normal
// priority, so once the ticks of the running rollouts keep every worker busy, a Service
// that has not started never gets a worker: bench/scale saw 40 of 1,000 rollouts start
// in 6 minutes. A plain FIFO queue serves every Service in turn.
var fifo = false

// A reconcile that fails (the API server or etcd away, a write refused) is tried again
// after minFailureBackoff, doubling per consecutive failure up to maxFailureBackoff, and
// never given up. controller-runtime's default cap is 1000 s: after an outage of a
// minute a Service would wait minutes more for its next reconcile, and a rollback for its
// write. One second keeps a failing Service's retries at half the rate of its ticks.
const (
	minFailureBackoff = 5 * time.Millisecond
	maxFailureBackoff = time.Second
)

func (r *Reconciler) servicesInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.optedIn(ctx, obj.GetNamespace(), func(*corev1.Service) bool { return true })
}

func (r *Reconciler) servicesUsingPolicy(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.optedIn(ctx, "", func(s *corev1.Service) bool { return spec.PolicyName(s.Annotations) == obj.GetName() })
}

// optedIn lists the Services (in ns, or everywhere) whose sluice annotations are present.
func (r *Reconciler) optedIn(ctx context.Context, ns string, keep func(*corev1.Service) bool) []reconcile.Request {
	list := &corev1.ServiceList{}
	var opts []client.ListOption
	if ns != "" {
		opts = append(opts, client.InNamespace(ns))
	}
	if err := r.Client.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing Services to requeue")
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		s := &list.Items[i]
		if _, ok := s.Annotations[spec.AnnEnabled]; ok && keep(s) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return out
}

// alertRecorded passes TrafficShift updates that record a new alert, so that whichever
// replica received it, the leader acts on it at once rather than at the next tick.
type alertRecorded struct{ predicate.Funcs }

// Update reports whether the new object has an alert record the old one lacks.
func (alertRecorded) Update(e event.UpdateEvent) bool {
	old, ok1 := e.ObjectOld.(*sluicev1alpha1.TrafficShift)
	cur, ok2 := e.ObjectNew.(*sluicev1alpha1.TrafficShift)
	if !ok1 || !ok2 {
		return false
	}
	seen := map[string]bool{}
	for _, a := range old.Status.Alerts {
		seen[a.Fingerprint+"@"+a.StartsAt.String()] = true
	}
	for _, a := range cur.Status.Alerts {
		if !seen[a.Fingerprint+"@"+a.StartsAt.String()] {
			return true
		}
	}
	return false
}
