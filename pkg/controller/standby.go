package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/pkg/analysis"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/spec"
)

// Standby keeps a replica that is not the leader ready to take over: every Every it reads
// the stats of each active rollout, as the leader's tick does, into the same windows the
// reconciler judges with, so the first tick after a takeover sees a full window rather
// than one scrape. Reading them also starts the informers the reconciler needs, so its
// caches are in sync before it is elected. It writes nothing, and it stops as soon as this
// replica is elected; the reconciler's ticks read from then on.
type Standby struct {
	R *Reconciler
	// Elected is closed when this replica becomes the leader (manager.Elected()).
	Elected <-chan struct{}
	// Every is the time between two passes (default 500 ms, the default tick).
	Every time.Duration
	// Informers, when set, gets the informers of every kind the reconciler watches
	// started and synced before the first pass (the manager's cache).
	Informers cache.Informers
}

// watched are the kinds the reconciler watches or reads through the cache.
func watched() []client.Object {
	return []client.Object{&corev1.Service{}, &corev1.Pod{}, &sluicev1alpha1.TrafficShift{}, &sluicev1alpha1.ShiftPolicy{},
		&networkingv1.VirtualService{}, &networkingv1.DestinationRule{}}
}

// NewStandby returns the standby of r; from then on r's reconciles wait until the standby
// has stopped, so that no pass of it runs beside the leader's first tick.
func NewStandby(r *Reconciler, elected <-chan struct{}, informers cache.Informers) *Standby {
	r.standby = make(chan struct{})
	return &Standby{R: r, Elected: elected, Informers: informers}
}

// NeedLeaderElection is false: the standby runs on every replica until it is elected.
func (s *Standby) NeedLeaderElection() bool { return false }

// Start runs passes until this replica is elected or ctx ends. A pass in flight at the
// election is cancelled, so the reconciler waits for it only a moment.
func (s *Standby) Start(ctx context.Context) error {
	defer close(s.R.standby)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.Elected:
			cancel()
		case <-ctx.Done():
		}
	}()
	for _, obj := range watched() {
		if s.Informers == nil {
			break
		}
		if _, err := s.Informers.GetInformer(ctx, obj); err != nil && ctx.Err() == nil {
			return fmt.Errorf("standby: starting the informer of %T: %w", obj, err)
		}
	}
	every := s.Every
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.R.warmAll(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// waitForStandby holds a reconcile until the standby (if any) has stopped.
func (r *Reconciler) waitForStandby(ctx context.Context) error {
	if r.standby == nil {
		return nil
	}
	select {
	case <-r.standby:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// warmAll reads the stats of every active rollout once; rollouts that ended are forgotten.
func (r *Reconciler) warmAll(ctx context.Context) {
	list := &sluicev1alpha1.TrafficShiftList{}
	if err := r.Client.List(ctx, list); err != nil {
		if ctx.Err() == nil {
			log.FromContext(ctx).Error(err, "standby: listing TrafficShifts")
		}
		return
	}
	for i := range list.Items {
		ts := &list.Items[i]
		if ctx.Err() != nil {
			return
		}
		if !lifecycle.Active(ts.Status.Phase) || ts.Status.Canary == "" {
			r.mem.forget(client.ObjectKeyFromObject(ts))
			continue
		}
		if err := r.warm(ctx, ts, r.Clock.Now()); err != nil && ctx.Err() == nil {
			log.FromContext(ctx).V(1).Info("standby: stats not read", "trafficshift", client.ObjectKeyFromObject(ts), "error", err.Error())
		}
	}
}

// warm reads ts's rollout's stats into its memory, in step with the status the leader
// last wrote. It needs less than a tick: the policy, the DestinationRules and the pods,
// all from the cache; no VirtualService (it decides nothing).
func (r *Reconciler) warm(ctx context.Context, ts *sluicev1alpha1.TrafficShift, now time.Time) error {
	svc := &corev1.Service{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ts.Namespace, Name: ts.Spec.Service}, svc); err != nil {
		return fmt.Errorf("reading Service: %w", err)
	}
	w, err := r.warmWorld(ctx, svc)
	if err != nil {
		return err
	}
	st := &ts.Status
	rm := r.mem.get(client.ObjectKeyFromObject(ts), st.Canary, rolloutStart(st, now), w.spec.Guard.Window, st.StepRequests, st.Step)
	// The step's requests are the leader's count (its last status write); the standby's
	// own reads only fill the windows.
	rm.step, rm.stepReqs = st.Step, st.StepRequests
	_, stable, _, err := r.readStats(ctx, w, rm, st.Stable, st.Canary, now, false)
	if err != nil {
		return err
	}
	if int64(stable.window.Requests) >= w.spec.Guard.MinRequests {
		rm.stableBaseline = stable.window
	}
	return nil
}

// warmWorld is the part of gather the stats need: the spec and the DestinationRules.
func (r *Reconciler) warmWorld(ctx context.Context, svc *corev1.Service) (*world, error) {
	w := &world{svc: svc}
	w.target.Name, w.target.Namespace = svc.Name, svc.Namespace
	policy, err := r.policy(ctx, spec.PolicyName(svc.Annotations))
	if err != nil {
		return nil, err
	}
	if w.spec, err = spec.Parse(svc.Annotations, policy); err != nil {
		return nil, fmt.Errorf("parsing the Service's annotations: %w", err)
	}
	if p := r.Stats.problem(w); p != nil {
		return nil, errors.New(p.Message)
	}
	drs := &networkingv1.DestinationRuleList{}
	if err := r.Client.List(ctx, drs, client.InNamespace(svc.Namespace)); err != nil {
		return nil, fmt.Errorf("listing DestinationRules in %s: %w", svc.Namespace, err)
	}
	w.drs = drs.Items
	return w, nil
}

// rolloutStart is when the rollout of st started, as stored (microseconds); now for a
// status that has not recorded it yet.
func rolloutStart(st *sluicev1alpha1.TrafficShiftStatus, now time.Time) time.Time {
	if st.RolloutStartedAt != nil {
		return st.RolloutStartedAt.Time.Truncate(time.Microsecond)
	}
	return now
}

// noteFirstTick logs this process's first full tick of a rollout: for a replica that took
// over, the moment the takeover ends, with how much the window already held.
func (r *Reconciler) noteFirstTick(ctx context.Context, in analysis.Input, d analysis.Decision, now time.Time) {
	r.firstTick.Do(func() {
		log.FromContext(ctx).Info("first tick", "tickStartedAt", now.UTC().Format(time.RFC3339Nano),
			"canaryWindowRequests", in.Canary.Requests, "stableWindowRequests", in.Stable.Requests, "decision", string(d.Action), "reason", d.Reason)
	})
}
