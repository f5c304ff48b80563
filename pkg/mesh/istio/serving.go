package istio

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// ServingSubset infers the stable subset from vs, for when sluice.dev/stable is unset.
// Every route that sends the target's traffic to a subset must send it to exactly one
// subset at 100; the default route (the first without a match, normally the last route)
// names the serving subset, and routes with a match pinned to a different subset are
// ignored. Without a match-less route, all such routes must agree. Routes sending to the
// target without a subset are ignored. Anything else is ambiguous and an error.
func ServingSubset(vs *networkingv1.VirtualService, t Target) (string, error) {
	return servingSubset(vs, t, "")
}

// ServingSubsetBeside is ServingSubset for a VirtualService in the middle of a rollout
// of canary: a route that splits the target's traffic between one subset and canary
// serves that subset. It is how a rollout with no record (its TrafficShift deleted)
// finds its stable again.
func ServingSubsetBeside(vs *networkingv1.VirtualService, t Target, canary string) (string, error) {
	return servingSubset(vs, t, canary)
}

func servingSubset(vs *networkingv1.VirtualService, t Target, canary string) (string, error) {
	if vs == nil {
		return "", fmt.Errorf("inferring serving subset of %s: nil VirtualService", t)
	}
	id := vs.Namespace + "/" + vs.Name
	type single struct {
		index  int
		subset string
	}
	var singles []single
	defaultIdx, defaultSubset := -1, ""
	for i, r := range vs.Spec.GetHttp() {
		if !touchesTarget(r, t, vs.Namespace) {
			continue
		}
		if err := validateRoute(r); err != nil {
			return "", fmt.Errorf("inferring serving subset of %s from VirtualService %s: http route %d%s: %w", t, id, i, nameSuffix(r), err)
		}
		subsets := activeSubsets(r, t, vs.Namespace)
		if canary != "" && len(subsets) == 2 && slices.Contains(subsets, canary) {
			subsets = slices.DeleteFunc(subsets, func(s string) bool { return s == canary })
		}
		switch len(subsets) {
		case 0:
			continue // only subset-less (Bypass) or weight-0 destinations
		case 1:
		default:
			return "", fmt.Errorf("inferring serving subset of %s from VirtualService %s: http route %d splits traffic across subsets %s; set sluice.dev/stable",
				t, id, i, strings.Join(subsets, ", "))
		}
		singles = append(singles, single{i, subsets[0]})
		if len(r.GetMatch()) == 0 && defaultIdx < 0 {
			defaultIdx, defaultSubset = i, subsets[0]
		}
	}
	if len(singles) == 0 {
		return "", fmt.Errorf("inferring serving subset of %s from VirtualService %s: no http route sends to a subset of %s", t, id, t.FQDN())
	}
	if defaultIdx >= 0 {
		return defaultSubset, nil
	}
	seen := map[string]bool{}
	for _, s := range singles {
		seen[s.subset] = true
	}
	if len(seen) > 1 {
		names := make([]string, 0, len(seen))
		for n := range seen {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", fmt.Errorf("inferring serving subset of %s from VirtualService %s: routes with matches send to different subsets (%s) and none is a default route; set sluice.dev/stable",
			t, id, strings.Join(names, ", "))
	}
	return singles[0].subset, nil
}

// activeSubsets lists the distinct subsets of the target that receive traffic in r, in
// route order (subset-less and weight-0 destinations excluded).
func activeSubsets(r *istiov1.HTTPRoute, t Target, ns string) []string {
	var out []string
	dests := r.GetRoute()
	for j, d := range dests {
		sub := d.GetDestination().GetSubset()
		if sub == "" || effectiveWeight(dests, j) == 0 || !t.MatchesHost(d.GetDestination().GetHost(), ns) {
			continue
		}
		if !slices.Contains(out, sub) {
			out = append(out, sub)
		}
	}
	return out
}
