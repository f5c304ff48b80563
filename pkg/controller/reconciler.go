package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/cacheindex"
	"github.com/sluicedev/sluice/pkg/dataplane"
	"github.com/sluicedev/sluice/pkg/metrics"
	"github.com/sluicedev/sluice/pkg/ownwrites"
	"github.com/sluicedev/sluice/pkg/spec"
)

// DataPlaneChecker reads whether the callers selected by from (namespace defaulting to ns)
// route host with the canary at weight want: dataplane.Confirmer reads their proxies'
// config dumps, dataplane.Istiod asks istiod.
type DataPlaneChecker interface {
	Check(ctx context.Context, ns string, from *spec.StatsFrom, host, canary string, want int32) (dataplane.Result, error)
}

// Reconciler drives the rollouts of opted-in Services.
type Reconciler struct {
	// Client reads through the manager's cache and writes to the API server.
	Client client.Client
	// Index, when set, is the indexes of Client's cache (cacheindex.Register): a tick then
	// lists only its Service's VirtualServices and DestinationRules, and reads the
	// subsets' pods from the pod informer's store by label, not its whole namespace.
	Index *cacheindex.Index
	// APIReader reads from the API server: what the cache must not hold (notification
	// Secrets, read by name) and, without Fresh, the TrafficShift and VirtualServices.
	APIReader client.Reader
	// Fresh reads the TrafficShift and the VirtualServices from the cache yet sees sluice's
	// own last write at once (pkg/ownwrites), so a tick needs no API read and sluice never
	// takes its own patch for someone else's edit. Nil reads them through APIReader.
	Fresh    *ownwrites.Reader
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	Stats    Sources
	// Signals are the guard signals sampled beside the tick (resources, custom checks).
	Signals Signals
	// DataPlane, when set, confirms each weight write at the callers (Services with
	// sluice.dev/stats-from); a step's dwell starts at confirmation.
	DataPlane DataPlaneChecker
	// DataPlaneTimeout is how long a write may stay unconfirmed before sluice says so (10s).
	DataPlaneTimeout time.Duration
	Metrics          *metrics.Metrics
	// StatusEvery bounds how often a tick that changed nothing but the window rewrites the
	// status (default DefaultStatusEvery, 5s).
	StatusEvery time.Duration
	// StatusRefreshRate bounds the window-only refreshes of all rollouts together, per
	// second and in any second (0: DefaultStatusRefreshRate; negative: no bound).
	StatusRefreshRate float64
	// Cluster names this cluster in rollout records (--cluster-name).
	Cluster string
	// RecordLog writes one JSON line per rollout record (info, warn for rollbacks); nil
	// logs through the reconcile's logger.
	RecordLog *zap.Logger
	// Notifier sends rollout records to the notification sinks (pkg/notify); nil sends
	// nothing. Notify says where: the sinks added to every policy's, and the namespace
	// whose Secrets hold the sinks' URLs and secrets.
	Notifier Notifier
	Notify   NotifyConfig

	mem memory
	// refreshes bounds the window-only status refreshes of all rollouts together.
	refreshes refreshBudget
	// wakes finds the rollouts Wake moves the ticks of (wake.go).
	wakes wakeIndex
	// standby is closed once the standby (standby.go) has stopped; nil without one.
	standby chan struct{}
	// firstTick logs this process's first full tick, the end of a takeover.
	firstTick sync.Once
}

// Reconcile handles one Service: the controller-runtime contract, keyed by the Service's
// name. It reads the Service and its TrafficShift, then either only looks for a pending
// weight at the callers (between ticks) or gathers the world and drives the lifecycle.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx).WithValues("service", req.NamespacedName)
	ctx = log.IntoContext(ctx, logger)
	if err := r.waitForStandby(ctx); err != nil {
		return ctrl.Result{}, err
	}
	start := r.Clock.Now()

	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, req.NamespacedName, svc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading Service %s: %w", req.NamespacedName, err)
	}
	enabled := spec.Enabled(svc.Annotations)
	ts, err := r.trafficShift(ctx, req.NamespacedName, enabled)
	if err != nil {
		return ctrl.Result{}, err
	}
	if enabled && ts == nil {
		if ts, err = r.createTrafficShift(ctx, svc); err != nil {
			return ctrl.Result{}, err
		}
	}
	if rm := r.confirmOnlyDue(ts, start); enabled && rm != nil {
		return r.confirmOnly(ctx, rm.world, ts, rm, start)
	}
	w, err := r.gather(ctx, svc)
	if err != nil {
		return ctrl.Result{}, err
	}
	res, err := r.drive(ctx, w, ts, start)
	if res.RequeueAfter > 0 && r.Metrics != nil {
		r.Metrics.TickSeconds.Observe(r.Clock.Since(start).Seconds())
	}
	return res, err
}

// trafficShift reads the Service's TrafficShift, nil when there is none. The status is the
// rollout's durable state and the base of this reconcile's writes, so it is read through
// Fresh: a cache that has not caught up with the last status write would replay a step
// (or fail the write on a conflict after the VirtualService moved). Services that are not
// opted in are answered from the cache alone.
func (r *Reconciler) trafficShift(ctx context.Context, key types.NamespacedName, optedIn bool) (*sluicev1alpha1.TrafficShift, error) {
	ts := &sluicev1alpha1.TrafficShift{}
	var reader client.Reader = r.Client
	if optedIn {
		reader = r.fresh()
	}
	if err := reader.Get(ctx, key, ts); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading TrafficShift %s: %w", key, err)
	}
	return ts, nil
}

func (r *Reconciler) createTrafficShift(ctx context.Context, svc *corev1.Service) (*sluicev1alpha1.TrafficShift, error) {
	ts := &sluicev1alpha1.TrafficShift{}
	ts.Name, ts.Namespace = svc.Name, svc.Namespace
	ts.Spec.Service = svc.Name
	if err := ctrl.SetControllerReference(svc, ts, r.Client.Scheme()); err != nil {
		return nil, fmt.Errorf("owning TrafficShift by its Service: %w", err)
	}
	if err := r.Client.Create(ctx, ts); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return r.existingTrafficShift(ctx, ts)
		}
		return nil, fmt.Errorf("creating TrafficShift %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	r.wrote(ts)
	log.FromContext(ctx).Info("tracking Service", "trafficshift", ts.Name)
	return ts, nil
}

// existingTrafficShift reads ts from the API server after its create found it there: the
// cache that said there was none lags (an informer can take tens of seconds to resume
// watching after the API server restarts), so the read must not go to the cache again.
func (r *Reconciler) existingTrafficShift(ctx context.Context, ts *sluicev1alpha1.TrafficShift) (*sluicev1alpha1.TrafficShift, error) {
	r.stale(ts)
	got, err := r.trafficShift(ctx, client.ObjectKeyFromObject(ts), true)
	if err == nil && got == nil {
		err = fmt.Errorf("TrafficShift %s/%s: the create found it, the read did not (deleted meanwhile?)", ts.Namespace, ts.Name)
	}
	return got, err
}

// fresh is the reader of the objects sluice writes: Fresh, or the API server without it.
func (r *Reconciler) fresh() client.Reader {
	if r.Fresh != nil {
		return r.Fresh
	}
	return r.APIReader
}

// stale tells Fresh that a write found obj changed under it: the next read is fresh.
func (r *Reconciler) stale(obj client.Object) {
	if r.Fresh != nil {
		r.Fresh.Stale(obj)
	}
}

// wrote tells Fresh about a write sluice made, with the object the API server returned.
func (r *Reconciler) wrote(obj client.Object) {
	if r.Fresh != nil {
		r.Fresh.Wrote(obj)
	}
}
