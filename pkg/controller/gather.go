package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/analysis"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/spec"
)

// world is everything gathered for one reconcile of a Service: the objects read, and
// what the guard said once the stats were read.
type world struct {
	svc    *corev1.Service
	spec   spec.Spec
	target istio.Target
	vss    []*networkingv1.VirtualService
	drs    []*networkingv1.DestinationRule
	// problem is bad input found in the spec, the policy or the routing objects.
	problem *lifecycle.Problem
	// serving is the subset the routes send everything to ("" with servingProblem).
	serving        string
	servingProblem *lifecycle.Problem
	// guard is the decision engine's verdict once this reconcile has read the stats.
	guard *analysis.Decision
}

// gather reads the Service's policy and routing objects. Bad input is recorded in
// w.problem; the error is for I/O failures (which are retried). A Service that is not
// opted in needs nothing more than itself.
func (r *Reconciler) gather(ctx context.Context, svc *corev1.Service) (*world, error) {
	w := &world{svc: svc, target: istio.Target{Name: svc.Name, Namespace: svc.Namespace}}
	if !spec.Enabled(svc.Annotations) {
		return w, nil
	}
	err := r.read(ctx, w)
	if p := (*lifecycle.Problem)(nil); errors.As(err, &p) {
		w.problem = p
		return w, nil
	}
	if err != nil {
		return nil, err
	}
	w.serving, w.servingProblem = w.inferStable()
	return w, nil
}

// read fills w's spec, VirtualServices and DestinationRules; *lifecycle.Problem for bad input.
func (r *Reconciler) read(ctx context.Context, w *world) error {
	policy, err := r.policy(ctx, spec.PolicyName(w.svc.Annotations))
	if err != nil {
		return err
	}
	if w.spec, err = spec.Parse(w.svc.Annotations, policy); err != nil {
		return &lifecycle.Problem{Reason: reason.InvalidSpec, Message: err.Error()}
	}
	if w.vss, err = r.virtualServices(ctx, w); err != nil {
		return err
	}
	drs := &networkingv1.DestinationRuleList{}
	if err := r.Client.List(ctx, drs, client.InNamespace(w.svc.Namespace)); err != nil {
		return fmt.Errorf("listing DestinationRules in %s: %w", w.svc.Namespace, err)
	}
	w.drs = drs.Items
	return nil
}

// facts is the lifecycle's view of w, ts and what sluice remembers: the pure input of
// lifecycle.Decide. It resolves the subsets and inspects the routes for them.
func (r *Reconciler) facts(w *world, ts *sluicev1alpha1.TrafficShift) lifecycle.World {
	lw := lifecycle.World{Enabled: spec.Enabled(w.svc.Annotations), Tracked: ts != nil, Host: w.target.FQDN(), Guard: w.guard}
	if ts == nil {
		return lw
	}
	lw.Status = ts.Status
	if !lw.Enabled {
		return lw
	}
	lw.Spec, lw.Serving = w.spec, w.serving
	if lw.Problem = w.problem; lw.Problem != nil {
		return lw
	}
	lw.Stable, lw.Canary, lw.Problem = lifecycle.Subsets(&ts.Status, w.spec, w.serving, w.servingProblem)
	if lw.Problem != nil {
		return lw
	}
	subsets := []string{lw.Stable}
	if lw.Canary != "" {
		subsets = append(subsets, lw.Canary)
	}
	if err := istio.CheckSubsets(w.drs, w.target, subsets...); err != nil {
		lw.Problem = &lifecycle.Problem{Reason: reason.SubsetNotFound, Message: err.Error()}
		return lw
	}
	lw.Routes = w.routeFacts(lw.Stable, lw.Canary)
	lw.IdleRoutes = w.routeFacts(lw.Stable, "")
	if rm := r.mem.peek(client.ObjectKeyFromObject(ts)); rm != nil {
		lw.Following = rm.confirm != nil || rm.drain != nil
	}
	lw.StatsProblem = r.Stats.problem(w)
	return lw
}

// policy returns the named ShiftPolicy's spec, nil for the built-in default.
func (r *Reconciler) policy(ctx context.Context, name string) (*sluicev1alpha1.ShiftPolicySpec, error) {
	p := &sluicev1alpha1.ShiftPolicy{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: name}, p); err != nil {
		if apierrors.IsNotFound(err) {
			if name == spec.DefaultPolicyName {
				return nil, nil
			}
			return nil, &lifecycle.Problem{Reason: reason.PolicyNotFound, Message: fmt.Sprintf("%s: ShiftPolicy %q does not exist", spec.AnnPolicy, name)}
		}
		return nil, fmt.Errorf("reading ShiftPolicy %q: %w", name, err)
	}
	return &p.Spec, nil
}

// virtualServices returns the named VirtualServices, or every one in the namespace routing
// to the Service's host. Reads are uncached: weights must be current.
func (r *Reconciler) virtualServices(ctx context.Context, w *world) ([]*networkingv1.VirtualService, error) {
	ns := w.svc.Namespace
	if names := w.spec.VirtualServices; len(names) > 0 {
		out := make([]*networkingv1.VirtualService, 0, len(names))
		var missing []string
		for _, n := range names {
			vs := &networkingv1.VirtualService{}
			if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, vs); err != nil {
				if apierrors.IsNotFound(err) {
					missing = append(missing, n)
					continue
				}
				return nil, fmt.Errorf("reading VirtualService %s/%s: %w", ns, n, err)
			}
			if !istio.RoutesTo(vs, w.target) {
				return nil, &lifecycle.Problem{Reason: reason.NoManagedRoute, Message: fmt.Sprintf("VirtualService %s/%s has no http route to %s", ns, n, w.target.FQDN())}
			}
			out = append(out, vs)
		}
		if len(missing) > 0 {
			return nil, &lifecycle.Problem{Reason: reason.VirtualServiceNotFound, Message: fmt.Sprintf("%s names VirtualService(s) %s that do not exist in namespace %s", spec.AnnVirtualService, strings.Join(missing, ", "), ns)}
		}
		return out, nil
	}
	// Discovery lists from the cache; the VirtualServices that route to the host are then
	// read fresh by name. (An uncached LIST right after a write waits for the API server's
	// watch cache to catch up, ~100 ms; a GET by name does not.)
	list := &networkingv1.VirtualServiceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("listing VirtualServices in %s: %w", ns, err)
	}
	var out []*networkingv1.VirtualService
	for _, cached := range list.Items {
		if !istio.RoutesTo(cached, w.target) {
			continue
		}
		vs := &networkingv1.VirtualService{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(cached), vs); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("reading VirtualService %s/%s: %w", ns, cached.Name, err)
		}
		if istio.RoutesTo(vs, w.target) {
			out = append(out, vs)
		}
	}
	if len(out) == 0 {
		return nil, &lifecycle.Problem{Reason: reason.NoVirtualService, Message: fmt.Sprintf("no VirtualService in namespace %s has an http route to %s", ns, w.target.FQDN())}
	}
	slices.SortFunc(out, func(a, b *networkingv1.VirtualService) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// routes inspects every VirtualService for the stable/canary pair. The problem says why
// no route can be managed, or which route is malformed.
func (w *world) routes(stable, canary string) (managed, bypass []sluicev1alpha1.RouteRef, byVS map[string][]istio.RouteInfo, p *lifecycle.Problem) {
	byVS = map[string][]istio.RouteInfo{}
	for _, vs := range w.vss {
		infos, err := istio.Inspect(vs, w.target, stable, canary)
		if err != nil {
			return nil, nil, nil, &lifecycle.Problem{Reason: reason.InvalidRoute, Message: err.Error()}
		}
		byVS[vs.Name] = infos
		for _, ri := range infos {
			ref := sluicev1alpha1.RouteRef{VirtualService: vs.Name, Index: int32(ri.Index), Name: ri.Name}
			switch ri.Kind {
			case istio.Managed:
				managed = append(managed, ref)
			case istio.Bypass:
				bypass = append(bypass, ref)
			}
		}
	}
	if len(managed) == 0 {
		return nil, nil, nil, &lifecycle.Problem{Reason: reason.NoManagedRoute, Message: fmt.Sprintf("no http route sends %s's traffic to subset %q alone or to %q and %q", w.target.FQDN(), stable, stable, canary)}
	}
	return managed, bypass, byVS, nil
}

// routeFacts is what the lifecycle needs of routes(stable, canary).
func (w *world) routeFacts(stable, canary string) lifecycle.Routes {
	_, _, byVS, p := w.routes(stable, canary)
	if p != nil {
		return lifecycle.Routes{Problem: p}
	}
	return lifecycle.Routes{CanaryWeights: observedCanaryWeights(byVS)}
}

// observedCanaryWeights lists the distinct canary weights across managed routes.
func observedCanaryWeights(byVS map[string][]istio.RouteInfo) []int32 {
	var ws []int32
	for _, infos := range byVS {
		for _, ri := range infos {
			if ri.Kind == istio.Managed && !slices.Contains(ws, ri.CanaryWeight) {
				ws = append(ws, ri.CanaryWeight)
			}
		}
	}
	slices.Sort(ws)
	return ws
}

// inferStable finds the subset serving now. A VirtualService without any subset route to
// the host (a gateway route) has no say.
func (w *world) inferStable() (string, *lifecycle.Problem) {
	var found string
	var firstErr error
	for _, vs := range w.vss {
		s, err := istio.ServingSubset(vs, w.target)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if found != "" && s != found {
			return "", &lifecycle.Problem{Reason: reason.UnknownStable, Message: fmt.Sprintf("VirtualServices disagree on the serving subset (%q vs %q); set %s", found, s, spec.AnnStable)}
		}
		found = s
	}
	if found == "" {
		return "", &lifecycle.Problem{Reason: reason.UnknownStable, Message: fmt.Sprintf("%v; set %s to the subset serving now", firstErr, spec.AnnStable)}
	}
	return found, nil
}
