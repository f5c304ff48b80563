package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
	// drs are the informer cache's objects themselves: never change them.
	drs []*networkingv1.DestinationRule
	// problem is bad input found in the spec, the policy or the routing objects.
	problem *lifecycle.Problem
	// serving is the subset the routes send everything to ("" with servingProblem).
	serving        string
	servingProblem *lifecycle.Problem
	// guard is the decision engine's verdict once this reconcile has read the stats.
	guard *analysis.Decision
	// retried: the pending write was tried again in this reconcile; joined: VirtualServices
	// that appeared mid-rollout were written.
	retried, joined bool
	// writtenAt is when this reconcile's last weight write reached every VirtualService.
	writtenAt *time.Time
	// pods are the subsets' pods as listed in this reconcile, by subset.
	pods map[string][]corev1.Pod
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
	// The cache's own objects, not copies (Istio's DeepCopy is a reflective proto.Clone):
	// w.drs is read-only.
	if err := r.Client.List(ctx, drs, r.appliesTo(w.target, client.InNamespace(w.svc.Namespace), client.UnsafeDisableDeepCopy)...); err != nil {
		return fmt.Errorf("listing DestinationRules in %s: %w", w.svc.Namespace, err)
	}
	w.drs = drs.Items
	return nil
}

// facts is the lifecycle's view of w, ts and what sluice remembers: the pure input of
// lifecycle.Decide. It resolves the subsets and inspects the routes for them.
func (r *Reconciler) facts(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, now time.Time) (lifecycle.World, error) {
	lw := lifecycle.World{Enabled: spec.Enabled(w.svc.Annotations), Tracked: ts != nil, Host: w.target.FQDN(), Guard: w.guard, Retried: w.retried, Now: now}
	if ts == nil {
		return lw, nil
	}
	lw.Status = ts.Status
	if !lw.Enabled {
		return lw, nil
	}
	lw.Spec, lw.Serving = w.spec, w.serving
	if lw.Problem = w.problem; lw.Problem != nil {
		return lw, nil
	}
	lw.Stable, lw.Canary, lw.Problem = lifecycle.Subsets(&ts.Status, w.spec, w.serving, w.servingProblem)
	if lw.Problem != nil {
		return lw, nil
	}
	subsets := []string{lw.Stable}
	if lw.Canary != "" {
		subsets = append(subsets, lw.Canary)
	}
	if err := istio.CheckSubsets(w.drs, w.target, subsets...); err != nil {
		lw.Problem = &lifecycle.Problem{Reason: reason.SubsetNotFound, Message: err.Error()}
		lw.CanaryUndefined = lw.Canary != "" && istio.CheckSubsets(w.drs, w.target, lw.Stable) == nil
		return lw, nil
	}
	rt := w.routing(lw.Stable, lw.Canary)
	lw.Joining = rt.joining(&ts.Status)
	lw.Routes = rt.facts(holdsRollout(&ts.Status, lw.Joining))
	lw.IdleRoutes = w.routing(lw.Stable, "").facts(holdsRollout(&ts.Status, nil))
	lw.Retried, lw.Joined = w.retried, w.joined
	if rm := r.mem.peek(client.ObjectKeyFromObject(ts)); rm != nil {
		lw.Following = rm.confirm != nil || rm.drain != nil
	}
	lw.StatsProblem = r.Stats.problem(w)
	if lw.StatsProblem == nil {
		lw.StatsProblem = r.Signals.problem(w)
	}
	if lw.Canary != "" && !lifecycle.Active(ts.Status.Phase) {
		pods, err := r.allSubsetPods(ctx, w, lw.Canary)
		if err != nil {
			return lw, err
		}
		lw.CanaryPods = readiness(pods)
	}
	return lw, nil
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
// to the Service's host. Reads go through Fresh: weights must include sluice's own last write.
func (r *Reconciler) virtualServices(ctx context.Context, w *world) ([]*networkingv1.VirtualService, error) {
	ns := w.svc.Namespace
	if names := w.spec.VirtualServices; len(names) > 0 {
		out := make([]*networkingv1.VirtualService, 0, len(names))
		var missing []string
		for _, n := range names {
			vs := &networkingv1.VirtualService{}
			if err := r.fresh().Get(ctx, client.ObjectKey{Namespace: ns, Name: n}, vs); err != nil {
				if apierrors.IsNotFound(err) {
					missing = append(missing, n)
					continue
				}
				return nil, fmt.Errorf("reading VirtualService %s/%s: %w", ns, n, err)
			}
			out = append(out, vs) // one without a route to the host is reported as ignored
		}
		if len(missing) > 0 {
			return nil, &lifecycle.Problem{Reason: reason.VirtualServiceNotFound, Message: fmt.Sprintf("%s names VirtualService(s) %s that do not exist in namespace %s", spec.AnnVirtualService, strings.Join(missing, ", "), ns)}
		}
		return out, nil
	}
	// Discovery lists from the cache; the VirtualServices that route to the host are then
	// read by name through Fresh, which knows which of them sluice wrote last.
	list := &networkingv1.VirtualServiceList{}
	// Only looked at, so the cache's own objects, not copies.
	if err := r.Client.List(ctx, list, r.appliesTo(w.target, client.InNamespace(ns), client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, fmt.Errorf("listing VirtualServices in %s: %w", ns, err)
	}
	var out []*networkingv1.VirtualService
	for _, cached := range list.Items {
		if !istio.RoutesTo(cached, w.target) {
			continue
		}
		vs := &networkingv1.VirtualService{}
		if err := r.fresh().Get(ctx, client.ObjectKeyFromObject(cached), vs); err != nil {
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

// appliesTo adds to opts, when the cache is indexed, the narrowing of a VirtualService or
// DestinationRule list to the objects that apply to t; the caller filters as without it.
func (r *Reconciler) appliesTo(t istio.Target, opts ...client.ListOption) []client.ListOption {
	if r.Index != nil {
		opts = append(opts, r.Index.AppliesTo(t))
	}
	return opts
}

// routing is what the VirtualServices do with the host's traffic for one stable and
// canary pair.
type routing struct {
	managed, bypass []sluicev1alpha1.RouteRef
	// ignored route to the host without a route sluice shifts.
	ignored []sluicev1alpha1.IgnoredVirtualService
	// canaryWeights are the distinct canary weights of each managed VirtualService's
	// managed routes, by VirtualService.
	canaryWeights map[string][]int32
	// problem says why no VirtualService can be shifted; nil when one can.
	problem *lifecycle.Problem
}

// routing surveys every VirtualService for the stable/canary pair. Those without a route
// sluice shifts are listed as ignored with why; only when none has one is it a problem.
func (w *world) routing(stable, canary string) routing {
	rt := routing{canaryWeights: map[string][]int32{}}
	var malformed *lifecycle.Problem
	for _, vs := range w.vss {
		s := istio.SurveyRoutes(vs, w.target, stable, canary)
		if !s.Managed() {
			rt.ignored = append(rt.ignored, sluicev1alpha1.IgnoredVirtualService{Name: vs.Name, Reason: s.Unmanaged()})
			if s.Err != nil && malformed == nil {
				malformed = &lifecycle.Problem{Reason: reason.InvalidRoute, Message: s.Err.Error()}
			}
		}
		for _, ri := range s.Routes {
			ref := sluicev1alpha1.RouteRef{VirtualService: vs.Name, Index: int32(ri.Index), Name: ri.Name}
			switch ri.Kind {
			case istio.Managed:
				rt.managed = append(rt.managed, ref)
				if !slices.Contains(rt.canaryWeights[vs.Name], ri.CanaryWeight) {
					rt.canaryWeights[vs.Name] = append(rt.canaryWeights[vs.Name], ri.CanaryWeight)
				}
			case istio.Bypass:
				rt.bypass = append(rt.bypass, ref)
			}
		}
	}
	if len(rt.managed) > 0 {
		return rt
	}
	if malformed != nil {
		rt.problem = malformed
		return rt
	}
	msg := fmt.Sprintf("no http route sends %s's traffic to subset %q alone or to %q and %q", w.target.FQDN(), stable, stable, canary)
	if len(rt.ignored) > 0 {
		parts := make([]string, len(rt.ignored))
		for i, ig := range rt.ignored {
			parts[i] = fmt.Sprintf("VirtualService %s: %s", ig.Name, ig.Reason)
		}
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	rt.problem = &lifecycle.Problem{Reason: reason.NoManagedRoute, Message: msg}
	return rt
}

// weights lists the distinct canary weights across the managed VirtualServices that keep
// says to count, ascending.
func (rt routing) weights(keep func(name string) bool) []int32 {
	var ws []int32
	for name, vw := range rt.canaryWeights {
		if !keep(name) {
			continue
		}
		for _, v := range vw {
			if !slices.Contains(ws, v) {
				ws = append(ws, v)
			}
		}
	}
	slices.Sort(ws)
	return ws
}

// facts are the lifecycle's Routes for rt, counting only the VirtualServices that hold
// the rollout's weights.
func (rt routing) facts(rollout func(name string) bool) lifecycle.Routes {
	if rt.problem != nil {
		return lifecycle.Routes{Problem: rt.problem}
	}
	return lifecycle.Routes{CanaryWeights: rt.weights(rollout)}
}

// joining lists the managed VirtualServices that route to the host with the canary at 0
// but are not among st's VirtualServices: they appeared in the middle of a rollout.
func (rt routing) joining(st *sluicev1alpha1.TrafficShiftStatus) []string {
	if !lifecycle.Active(st.Phase) || st.Weight == 0 || len(st.VirtualServices) == 0 {
		return nil
	}
	var out []string
	for name, ws := range rt.canaryWeights {
		if !slices.Contains(st.VirtualServices, name) && slices.Equal(ws, []int32{0}) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// holdsRollout says whether a VirtualService's weights are the rollout's own to judge:
// not one a pending write has not reached, not one that has yet to join.
func holdsRollout(st *sluicev1alpha1.TrafficShiftStatus, joining []string) func(string) bool {
	pending := failing(st.PendingWrite)
	return func(name string) bool {
		return !slices.Contains(pending, name) && !slices.Contains(joining, name)
	}
}

// inferStable finds the subset serving now. A VirtualService without any subset route to
// the host (a gateway route) has no say; a route split between one subset and the canary
// the annotation names serves that subset (a rollout whose TrafficShift was deleted).
func (w *world) inferStable() (string, *lifecycle.Problem) {
	var found string
	var firstErr error
	for _, vs := range w.vss {
		s, err := istio.ServingSubsetBeside(vs, w.target, w.spec.Canary)
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
