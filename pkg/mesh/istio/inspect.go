package istio

import (
	"fmt"
	"slices"
	"strings"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// RouteKind says how sluice treats one http route that sends to the target.
type RouteKind int

const (
	// Managed routes send the target's traffic to the stable subset alone or to stable +
	// canary; sluice shifts their weights.
	Managed RouteKind = iota
	// Pinned routes send the target's traffic only to subsets other than stable (e.g. a
	// header match pinning testers to a fixed version); left alone.
	Pinned
	// Bypass routes send to the target without a subset (typical of gateway-bound
	// VirtualServices); left alone and reported.
	Bypass
	// Mixed routes are unusable: the target's traffic is split across stable and other
	// subsets or hosts, or a subset appears twice; left alone and reported.
	Mixed
)

// String returns the kind's name.
func (k RouteKind) String() string {
	switch k {
	case Managed:
		return "Managed"
	case Pinned:
		return "Pinned"
	case Bypass:
		return "Bypass"
	case Mixed:
		return "Mixed"
	}
	return fmt.Sprintf("RouteKind(%d)", int(k))
}

// RouteInfo describes one http route that has a destination to the target.
type RouteInfo struct {
	// Index is the route's position in spec.http.
	Index int
	// Name is the route's name, often empty.
	Name string
	Kind RouteKind
	// StableWeight and CanaryWeight are the effective weights (a lone destination
	// without weight counts 100; absent means 0).
	StableWeight, CanaryWeight int32
	// HasCanary reports that the route lists a canary destination, possibly at weight 0.
	HasCanary bool
	// MirrorsCanary reports a mirror (or mirrors entry) to the canary subset.
	MirrorsCanary bool
	// Reason explains a kind other than Managed.
	Reason string
}

// routeState is RouteInfo plus the positions the patch builder needs.
type routeState struct {
	RouteInfo
	stableIdx, canaryIdx int // -1 when absent
}

// Inspect classifies every http route of vs for target, given the serving (stable) and
// canary subsets (canary may be "", and equal to stable means none). Only routes with at
// least one destination to the target are listed. The weights of those routes are
// validated: integers 0–100 that sum to 100 (a lone destination without weight counts
// 100), not all zero, no empty host; a violation is an error naming the VirtualService,
// route index and values. A weight-0 destination to another subset or host is treated
// as absent, as Istio drops it.
func Inspect(vs *networkingv1.VirtualService, t Target, stable, canary string) ([]RouteInfo, error) {
	states, err := inspect(vs, t, stable, canary)
	if err != nil || len(states) == 0 {
		return nil, err
	}
	out := make([]RouteInfo, len(states))
	for i, s := range states {
		out[i] = s.RouteInfo
	}
	return out, nil
}

func inspect(vs *networkingv1.VirtualService, t Target, stable, canary string) ([]routeState, error) {
	if vs == nil {
		return nil, fmt.Errorf("inspecting VirtualService for %s: nil VirtualService", t)
	}
	if canary == stable {
		canary = ""
	}
	var out []routeState
	for i, r := range vs.Spec.GetHttp() {
		if !touchesTarget(r, t, vs.Namespace) {
			continue
		}
		if err := validateRoute(r); err != nil {
			return nil, fmt.Errorf("VirtualService %s/%s: http route %d%s: %w", vs.Namespace, vs.Name, i, nameSuffix(r), err)
		}
		out = append(out, classify(i, r, t, vs.Namespace, stable, canary))
	}
	return out, nil
}

func nameSuffix(r *istiov1.HTTPRoute) string {
	if r.GetName() == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", r.GetName())
}

func touchesTarget(r *istiov1.HTTPRoute, t Target, ns string) bool {
	for _, d := range r.GetRoute() {
		if t.MatchesHost(d.GetDestination().GetHost(), ns) {
			return true
		}
	}
	return false
}

// validateRoute checks the invariants of one route's destinations.
func validateRoute(r *istiov1.HTTPRoute) error {
	dests := r.GetRoute()
	weights := make([]int32, len(dests))
	var sum int64
	for j, d := range dests {
		if d.GetDestination().GetHost() == "" {
			return fmt.Errorf("destination %d has an empty host", j)
		}
		w := d.GetWeight()
		weights[j] = w
		if w < 0 || w > 100 {
			return fmt.Errorf("destination %d (%s): weight %d outside 0..100", j, describe(d.GetDestination()), w)
		}
		sum += int64(w)
	}
	if len(dests) == 1 && weights[0] == 0 {
		return nil // a lone destination without weight takes all traffic
	}
	if sum == 0 {
		return fmt.Errorf("weights %v are all zero", weights)
	}
	if sum != 100 {
		return fmt.Errorf("weights %v sum to %d, want 100", weights, sum)
	}
	return nil
}

func describe(d *istiov1.Destination) string {
	if d.GetSubset() == "" {
		return d.GetHost()
	}
	return d.GetHost() + "/" + d.GetSubset()
}

// effectiveWeight is the share of traffic destination j gets in a valid route.
func effectiveWeight(dests []*istiov1.HTTPRouteDestination, j int) int32 {
	if len(dests) == 1 {
		return 100
	}
	return dests[j].GetWeight()
}

func classify(i int, r *istiov1.HTTPRoute, t Target, ns, stable, canary string) routeState {
	st := routeState{RouteInfo: RouteInfo{Index: i, Name: r.GetName()}, stableIdx: -1, canaryIdx: -1}
	dests := r.GetRoute()
	var dup, others, otherHosts []string
	subsetless := false
	for j, d := range dests {
		w := effectiveWeight(dests, j)
		sub := d.GetDestination().GetSubset()
		if !t.MatchesHost(d.GetDestination().GetHost(), ns) {
			if w > 0 {
				otherHosts = append(otherHosts, d.GetDestination().GetHost())
			}
			continue
		}
		switch {
		case stable != "" && sub == stable:
			if st.stableIdx >= 0 {
				dup = append(dup, sub)
			}
			st.stableIdx, st.StableWeight = j, w
		case canary != "" && sub == canary:
			if st.canaryIdx >= 0 {
				dup = append(dup, sub)
			}
			st.canaryIdx, st.CanaryWeight, st.HasCanary = j, w, true
		case w == 0:
			// Istio drops weight-0 destinations: absent.
		case sub == "":
			subsetless = true
		default:
			others = append(others, sub)
		}
	}
	st.MirrorsCanary = canary != "" && mirrorsTo(r, t, ns, canary)
	switch {
	case len(dup) > 0:
		st.Kind, st.Reason = Mixed, fmt.Sprintf("subset %s appears more than once", dup[0])
	case st.stableIdx < 0 && subsetless:
		st.Kind, st.Reason = Bypass, fmt.Sprintf("sends to %s without a subset", t.Name)
	case st.stableIdx < 0:
		sends := others
		if st.canaryIdx >= 0 {
			sends = append(sends, canary)
		}
		st.Kind, st.Reason = Pinned, fmt.Sprintf("sends %s only to subset(s) %s, not stable %q", t.Name, listOrNone(sends), stable)
	case subsetless:
		st.Kind, st.Reason = Mixed, fmt.Sprintf("splits %s between subset %s and no subset", t.Name, stable)
	case len(others) > 0:
		st.Kind, st.Reason = Mixed, fmt.Sprintf("splits %s across subsets %s and %s", t.Name, stable, strings.Join(others, ", "))
	case len(otherHosts) > 0:
		st.Kind, st.Reason = Mixed, fmt.Sprintf("also sends to other hosts: %s", strings.Join(otherHosts, ", "))
	default:
		st.Kind = Managed
	}
	return st
}

// mirrorsTo reports a mirror or mirrors entry of r to the given subset of the target.
func mirrorsTo(r *istiov1.HTTPRoute, t Target, ns, subset string) bool {
	if isSubsetOf(r.GetMirror(), t, ns, subset) {
		return true
	}
	return slices.ContainsFunc(r.GetMirrors(), func(m *istiov1.HTTPMirrorPolicy) bool {
		return isSubsetOf(m.GetDestination(), t, ns, subset)
	})
}

func isSubsetOf(d *istiov1.Destination, t Target, ns, subset string) bool {
	return d != nil && d.GetSubset() == subset && t.MatchesHost(d.GetHost(), ns)
}
