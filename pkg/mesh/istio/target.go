// Package istio computes and applies weight changes to Istio VirtualServices.
package istio

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// clusterDomain is the DNS suffix of in-cluster Service names.
const clusterDomain = "svc.cluster.local"

// Target is the Service whose traffic shifts.
type Target struct {
	Name, Namespace string
}

// FQDN returns the Service's fully qualified name, name.namespace.svc.cluster.local.
func (t Target) FQDN() string {
	return t.Name + "." + t.Namespace + "." + clusterDomain
}

// String returns namespace/name.
func (t Target) String() string { return t.Namespace + "/" + t.Name }

// MatchesHost reports whether a destination host is the target. The host may be short
// ("reviews", resolved against vsNamespace, the namespace of the object that names it),
// "reviews.ns", "reviews.ns.svc" or "reviews.ns.svc.cluster.local"; case and a trailing
// dot are ignored. Wildcards never match.
func (t Target) MatchesHost(host, vsNamespace string) bool {
	h, ok := HostTarget(host, vsNamespace)
	return ok && h.Name == strings.ToLower(t.Name) && h.Namespace == strings.ToLower(t.Namespace)
}

// HostTarget returns the Service a destination host names (lowercase), resolving a short
// host against vsNamespace: MatchesHost(host, ns) is true for exactly the Targets whose
// lowercase name and namespace are HostTarget(host, ns). ok is false for a host no Service
// matches (empty, a wildcard, a name outside the cluster domain).
func HostTarget(host, vsNamespace string) (t Target, ok bool) {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" || strings.Contains(h, "*") {
		return Target{}, false
	}
	parts := strings.SplitN(h, ".", 3)
	t.Name = parts[0]
	switch len(parts) {
	case 1:
		t.Namespace = strings.ToLower(vsNamespace)
	case 2:
		t.Namespace = parts[1]
	default:
		if parts[2] != "svc" && parts[2] != clusterDomain {
			return Target{}, false
		}
		t.Namespace = parts[1]
	}
	return t, t.Name != "" && t.Namespace != ""
}

// Key is the Target's lowercase namespace/name: Keys are equal exactly when MatchesHost
// takes the Targets for one (a Service's name and namespace have no '/').
func (t Target) Key() string { return strings.ToLower(t.Namespace) + "/" + strings.ToLower(t.Name) }

// Targets returns the Key of every Service vs has a say in (those RoutesTo is true for),
// each once: the hosts of its route destinations, and its own hosts when an http route
// delegates.
func Targets(vs *networkingv1.VirtualService) []string {
	if vs == nil {
		return nil
	}
	var out []string
	add := func(host string) {
		if t, ok := HostTarget(host, vs.Namespace); ok && !slices.Contains(out, t.Key()) {
			out = append(out, t.Key())
		}
	}
	delegates := false
	for _, r := range vs.Spec.GetHttp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination().GetHost())
		}
		delegates = delegates || r.GetDelegate() != nil
	}
	if delegates {
		for _, h := range vs.Spec.GetHosts() {
			add(h)
		}
	}
	for _, r := range vs.Spec.GetTcp() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination().GetHost())
		}
	}
	for _, r := range vs.Spec.GetTls() {
		for _, d := range r.GetRoute() {
			add(d.GetDestination().GetHost())
		}
	}
	return out
}

// RoutesTo reports whether vs has a say in the target's traffic: an http, tcp or tls
// route with a destination to the target, or an http route that delegates the target's
// host (vs lists it in hosts) to another VirtualService.
func RoutesTo(vs *networkingv1.VirtualService, t Target) bool {
	if vs == nil {
		return false
	}
	for _, r := range vs.Spec.GetHttp() {
		if touchesTarget(r, t, vs.Namespace) || (r.GetDelegate() != nil && hostsInclude(vs, t)) {
			return true
		}
	}
	for _, r := range vs.Spec.GetTcp() {
		if slices.ContainsFunc(r.GetRoute(), func(d *istiov1.RouteDestination) bool {
			return t.MatchesHost(d.GetDestination().GetHost(), vs.Namespace)
		}) {
			return true
		}
	}
	for _, r := range vs.Spec.GetTls() {
		if slices.ContainsFunc(r.GetRoute(), func(d *istiov1.RouteDestination) bool {
			return t.MatchesHost(d.GetDestination().GetHost(), vs.Namespace)
		}) {
			return true
		}
	}
	return false
}

// hostsInclude reports whether vs's hosts name the target.
func hostsInclude(vs *networkingv1.VirtualService, t Target) bool {
	return slices.ContainsFunc(vs.Spec.GetHosts(), func(h string) bool { return t.MatchesHost(h, vs.Namespace) })
}

// CheckSubsets verifies that the DestinationRules for the target host together define
// every given subset (empty names are skipped). The error names the missing subset and
// the DestinationRules looked at. DestinationRules are only read, never modified.
func CheckSubsets(drs []*networkingv1.DestinationRule, t Target, subsets ...string) error {
	defined := map[string]bool{}
	var matched, all []string
	for _, dr := range drs {
		if dr == nil {
			continue
		}
		id := dr.Namespace + "/" + dr.Name
		all = append(all, id)
		if !t.MatchesHost(dr.Spec.GetHost(), dr.Namespace) {
			continue
		}
		matched = append(matched, id)
		for _, s := range dr.Spec.GetSubsets() {
			defined[s.GetName()] = true
		}
	}
	for _, s := range subsets {
		if s == "" || defined[s] {
			continue
		}
		if len(matched) == 0 {
			return fmt.Errorf("checking subset %q of %s: no DestinationRule for host %s (looked at %s)",
				s, t, t.FQDN(), listOrNone(all))
		}
		names := make([]string, 0, len(defined))
		for n := range defined {
			names = append(names, n)
		}
		sort.Strings(names)
		return fmt.Errorf("checking subset %q of %s: not defined by DestinationRule %s (subsets: %s)",
			s, t, strings.Join(matched, ", "), listOrNone(names))
	}
	return nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
