package istio

import (
	"errors"
	"fmt"
	"strings"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// Survey is what one VirtualService does with the target's traffic, for a stable and
// canary pair: the http routes sluice may shift and every route it leaves alone, with why.
type Survey struct {
	// Routes are the http routes with a destination to the target (as Inspect lists them).
	Routes []RouteInfo
	// Others are routes to the target that sluice never shifts: tcp and tls routes, and
	// http routes that delegate the host to another VirtualService.
	Others []OtherRoute
	// Err says why the http routes cannot be read (a malformed route); Routes is then empty.
	Err error
}

// OtherRoute is a route to the target that is not an http route with destinations.
type OtherRoute struct {
	// Protocol is the section of spec it is in: http, tcp or tls.
	Protocol string
	// Index is its position in that section.
	Index int
	// Reason says what it is, for people.
	Reason string
}

// SurveyRoutes inspects every route of vs that concerns the target.
func SurveyRoutes(vs *networkingv1.VirtualService, t Target, stable, canary string) Survey {
	var s Survey
	if vs == nil {
		s.Err = errors.New("nil VirtualService")
		return s
	}
	s.Routes, s.Err = Inspect(vs, t, stable, canary)
	for i, r := range vs.Spec.GetHttp() {
		if d := r.GetDelegate(); d != nil && hostsInclude(vs, t) {
			s.Others = append(s.Others, OtherRoute{Protocol: "http", Index: i,
				Reason: fmt.Sprintf("delegates %s to VirtualService %s (sluice shifts the delegate's routes)", t.Name, delegateName(d, vs.Namespace))})
		}
	}
	for i, r := range vs.Spec.GetTcp() {
		if routesTo(r.GetRoute(), t, vs.Namespace) {
			s.Others = append(s.Others, OtherRoute{Protocol: "tcp", Index: i, Reason: "tcp route (sluice shifts http routes only)"})
		}
	}
	for i, r := range vs.Spec.GetTls() {
		if routesTo(r.GetRoute(), t, vs.Namespace) {
			s.Others = append(s.Others, OtherRoute{Protocol: "tls", Index: i, Reason: "tls route (sluice shifts http routes only)"})
		}
	}
	return s
}

func routesTo(dests []*istiov1.RouteDestination, t Target, ns string) bool {
	for _, d := range dests {
		if t.MatchesHost(d.GetDestination().GetHost(), ns) {
			return true
		}
	}
	return false
}

func delegateName(d *istiov1.Delegate, ns string) string {
	if d.GetNamespace() != "" {
		ns = d.GetNamespace()
	}
	return ns + "/" + d.GetName()
}

// Managed reports whether the VirtualService has at least one route sluice shifts.
func (s Survey) Managed() bool {
	for _, r := range s.Routes {
		if r.Kind == Managed {
			return true
		}
	}
	return false
}

// Unmanaged says, for people, why the VirtualService has no route sluice shifts: each
// route to the target with what it is ("http[0]: sends to productpage without a subset;
// tcp[0]: tcp route …"), or the malformed route.
func (s Survey) Unmanaged() string {
	if s.Err != nil {
		return "malformed: " + s.Err.Error()
	}
	var parts []string
	for _, r := range s.Routes {
		if r.Kind != Managed {
			parts = append(parts, fmt.Sprintf("http[%d]%s: %s", r.Index, quotedName(r.Name), r.Reason))
		}
	}
	for _, o := range s.Others {
		parts = append(parts, fmt.Sprintf("%s[%d]: %s", o.Protocol, o.Index, o.Reason))
	}
	if len(parts) == 0 {
		return "no route to the host"
	}
	return strings.Join(parts, "; ")
}

func quotedName(name string) string {
	if name == "" {
		return ""
	}
	return fmt.Sprintf(" (%q)", name)
}
