package vswatch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Invariants are what every VirtualService state sluice leaves behind must satisfy, for
// the http routes that send to one Service's host:
//   - weights are 0–100 and a route's weights sum to 100 (a lone destination without a
//     weight counts as 100);
//   - the canary's weight is 0 or one of the schedule's weights;
//   - the route sends to the stable or the canary subset: never both missing.
type Invariants struct {
	// Namespace and Service name the host (short or full name in the routes).
	Namespace, Service string
	// Stable and Canary are the rollout's subsets.
	Stable, Canary string
	// Schedule lists the canary weights of the rollout's steps (0 is always allowed).
	Schedule []int32
}

// Check returns one line per violation, naming the event (its index, type and time);
// none when every event satisfies the invariants. DELETED events are not checked: the
// object they carry is the last state, already checked.
func (inv Invariants) Check(events []Event) []string {
	var out []string
	for i, ev := range events {
		if ev.Type == watch.Deleted {
			continue
		}
		var vs networkingv1.VirtualService
		if err := json.Unmarshal(ev.Object, &vs); err != nil {
			out = append(out, fmt.Sprintf("event %d (%s at %s): undecodable VirtualService: %v", i, ev.Type, ev.At.Format("15:04:05.000"), err))
			continue
		}
		for _, msg := range inv.checkObject(&vs) {
			out = append(out, fmt.Sprintf("event %d (%s at %s, resourceVersion %s): %s", i, ev.Type, ev.At.Format("15:04:05.000"), vs.ResourceVersion, msg))
		}
	}
	return out
}

// checkObject checks every http route of vs that sends to the host.
func (inv Invariants) checkObject(vs *networkingv1.VirtualService) []string {
	var out []string
	for ri, r := range vs.Spec.GetHttp() {
		dests := r.GetRoute()
		mine := slices.ContainsFunc(dests, func(d *istiov1.HTTPRouteDestination) bool {
			return inv.sameHost(d.GetDestination().GetHost())
		})
		if !mine {
			continue
		}
		for _, msg := range inv.checkRoute(dests) {
			out = append(out, fmt.Sprintf("http route %d: %s", ri, msg))
		}
	}
	return out
}

// checkRoute checks one route's destinations.
func (inv Invariants) checkRoute(dests []*istiov1.HTTPRouteDestination) []string {
	var out []string
	sum, served := int32(0), false
	for _, d := range dests {
		w := d.GetWeight()
		if len(dests) == 1 && w == 0 {
			w = 100
		}
		if w < 0 || w > 100 {
			out = append(out, fmt.Sprintf("weight %d of %s outside 0–100", w, describe(d)))
		}
		sum += w
		if !inv.sameHost(d.GetDestination().GetHost()) {
			continue
		}
		switch d.GetDestination().GetSubset() {
		case inv.Canary:
			served = true
			if w != 0 && !slices.Contains(inv.Schedule, w) {
				out = append(out, fmt.Sprintf("canary %q at weight %d, not 0 nor a weight of the schedule %v", inv.Canary, w, inv.Schedule))
			}
		case inv.Stable:
			served = true
		}
	}
	if sum != 100 {
		out = append(out, fmt.Sprintf("weights sum to %d, not 100", sum))
	}
	if !served {
		out = append(out, fmt.Sprintf("neither the stable %q nor the canary %q is a destination", inv.Stable, inv.Canary))
	}
	return out
}

func describe(d *istiov1.HTTPRouteDestination) string {
	return fmt.Sprintf("%s subset %q", d.GetDestination().GetHost(), d.GetDestination().GetSubset())
}

// sameHost reports whether host names the Service: short name, name.ns, name.ns.svc or
// the full name.
func (inv Invariants) sameHost(host string) bool {
	host = strings.TrimSuffix(host, ".")
	s, ns := inv.Service, inv.Namespace
	return host == s || host == s+"."+ns || host == s+"."+ns+".svc" || host == s+"."+ns+".svc.cluster.local"
}
