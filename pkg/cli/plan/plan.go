package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// Options say what to plan.
type Options struct {
	// Host is the Service whose traffic shifts: "reviews", "reviews.ns" or
	// "reviews.ns.svc.cluster.local". Empty: each VirtualService's own single host.
	Host string
	// Namespace is the namespace of VirtualServices that carry none ("default" if empty).
	Namespace string
	// Stable is the serving subset; empty infers it from the routes as sluice does when
	// sluice.dev/stable is unset.
	Stable string
	// Canary is the subset being rolled out.
	Canary string
	// Weight is the canary weight to set, 0–100 (0 is a rollback).
	Weight int32
	// Promote plans the end of a rollout instead: the canary alone at 100, the old
	// stable destination removed.
	Promote bool
}

// Validate checks the options that do not depend on the input.
func (o Options) Validate() error {
	switch {
	case o.Canary == "":
		return errors.New("--canary must name the canary subset")
	case o.Canary == o.Stable:
		return fmt.Errorf("--canary and --stable are both %q", o.Canary)
	case !o.Promote && (o.Weight < 0 || o.Weight > 100):
		return fmt.Errorf("--weight %d: want 0–100", o.Weight)
	}
	return nil
}

// Treatment is what sluice does with a route.
type Treatment string

const (
	// Managed routes get their weights shifted.
	Managed Treatment = "managed"
	// LeftAlone routes (pinned to another subset, or to the host without a subset) are not touched.
	LeftAlone Treatment = "left alone"
	// Refused routes split the host's traffic in a way sluice will not shift.
	Refused Treatment = "refused"
)

// Route is one http route to the host, before and after.
type Route struct {
	Index     int       `json:"index"`
	Name      string    `json:"name,omitempty"`
	Kind      string    `json:"kind"`
	Treatment Treatment `json:"treatment"`
	Reason    string    `json:"reason,omitempty"`
	// Stable/Canary weights before and after the patch.
	StableBefore int32 `json:"stableBefore"`
	CanaryBefore int32 `json:"canaryBefore"`
	StableAfter  int32 `json:"stableAfter"`
	CanaryAfter  int32 `json:"canaryAfter"`
}

// Result is the plan for one VirtualService.
type Result struct {
	Document  int    `json:"document"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Host is the target Service's FQDN.
	Host string `json:"host"`
	// Stable is the serving subset; StableInferred says it was read from the routes.
	Stable         string `json:"stable"`
	StableInferred bool   `json:"stableInferred,omitempty"`
	Canary         string `json:"canary"`
	// RoutesToHost is false when no http route sends to the host (nothing planned).
	RoutesToHost bool    `json:"routesToHost"`
	Routes       []Route `json:"routes,omitempty"`
	// Patch is the RFC 6902 JSON patch sluice would send; nil when nothing changes.
	Patch json.RawMessage `json:"patch,omitempty"`
	// After is the document with the patch applied.
	After json.RawMessage `json:"-"`
}

// ID is namespace/name.
func (r Result) ID() string { return r.Namespace + "/" + r.Name }

// Run plans every document: the same pure transform the controller uses
// (istio.SetWeight, or istio.Promote), applied to the document as given. It fails when
// any VirtualService cannot be shifted (its error names the routes and why), or when no
// VirtualService routes to the host.
func Run(docs []Document, o Options) ([]Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = "default"
	}
	var out []Result
	var looked []string
	routed := false
	for _, d := range docs {
		vs := d.VS.DeepCopy()
		if vs.Namespace == "" {
			vs.Namespace = ns
		}
		r, err := runOne(d, vs, o)
		if err != nil {
			return nil, fmt.Errorf("document %d, VirtualService %s/%s: %w", d.Index, vs.Namespace, vs.Name, err)
		}
		looked = append(looked, r.ID())
		routed = routed || r.RoutesToHost
		out = append(out, r)
	}
	if !routed {
		host := o.Host
		if host == "" {
			host = "its host"
		}
		return nil, fmt.Errorf("no http route of %s sends to %s: nothing to plan (is --host right?)", strings.Join(looked, ", "), host)
	}
	return out, nil
}

func runOne(d Document, vs *networkingv1.VirtualService, o Options) (Result, error) {
	t, err := target(vs, o.Host)
	if err != nil {
		return Result{}, err
	}
	r := Result{Document: d.Index, Namespace: vs.Namespace, Name: vs.Name, Host: t.FQDN(), Canary: o.Canary, After: d.Raw}
	if !istio.RoutesTo(vs, t) {
		return r, nil
	}
	r.RoutesToHost = true
	r.Stable = o.Stable
	if r.Stable == "" {
		if r.Stable, err = istio.ServingSubset(vs, t); err != nil {
			return r, fmt.Errorf("%w (name it with --stable)", err)
		}
		r.StableInferred = true
		if r.Stable == o.Canary {
			return r, fmt.Errorf("the routes already send %s to %q alone: it is the stable subset, nothing to roll out", t.FQDN(), o.Canary)
		}
	}
	before, err := istio.Inspect(vs, t, r.Stable, o.Canary)
	if err != nil {
		return r, err
	}
	var patch []byte
	if o.Promote {
		patch, _, err = istio.Promote(vs, t, r.Stable, o.Canary)
	} else {
		patch, _, err = istio.SetWeight(vs, t, r.Stable, o.Canary, o.Weight)
	}
	if err != nil {
		if errors.Is(err, istio.ErrNoManagedRoute) {
			err = fmt.Errorf("%w; the routes: %s", err, describeRoutes(before))
		}
		return r, err
	}
	after := vs
	if patch != nil {
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return r, fmt.Errorf("decoding the patch: %w", err)
		}
		if r.After, err = p.Apply(d.Raw); err != nil {
			return r, fmt.Errorf("applying the patch to the document as given (sluice would send it to the object the API server stores): %w", err)
		}
		r.Patch = patch
		after = &networkingv1.VirtualService{}
		if err := json.Unmarshal(r.After, after); err != nil {
			return r, fmt.Errorf("decoding the patched document: %w", err)
		}
		if after.Namespace == "" {
			after.Namespace = vs.Namespace
		}
	}
	afterInfo, err := istio.Inspect(after, t, r.Stable, o.Canary)
	if err != nil {
		return r, fmt.Errorf("the patched document fails its invariants: %w", err)
	}
	byIndex := map[int]istio.RouteInfo{}
	for _, a := range afterInfo {
		byIndex[a.Index] = a
	}
	for _, b := range before {
		a := byIndex[b.Index]
		r.Routes = append(r.Routes, Route{
			Index: b.Index, Name: b.Name, Kind: b.Kind.String(), Treatment: treatment(b.Kind), Reason: b.Reason,
			StableBefore: b.StableWeight, CanaryBefore: b.CanaryWeight, StableAfter: a.StableWeight, CanaryAfter: a.CanaryWeight,
		})
	}
	return r, nil
}

func treatment(k istio.RouteKind) Treatment {
	switch k {
	case istio.Managed:
		return Managed
	case istio.Mixed:
		return Refused
	}
	return LeftAlone
}

// describeRoutes lists routes with their kind and reason, for an error.
func describeRoutes(routes []istio.RouteInfo) string {
	parts := make([]string, len(routes))
	for i, r := range routes {
		parts[i] = fmt.Sprintf("%s %s (%s)", routeRef(r.Index, r.Name), treatment(r.Kind), r.Reason)
	}
	return strings.Join(parts, "; ")
}

func routeRef(i int, name string) string {
	if name != "" {
		return fmt.Sprintf("http[%d] %q", i, name)
	}
	return fmt.Sprintf("http[%d]", i)
}

// target resolves the Service the plan is for: host, else the VirtualService's only host.
func target(vs *networkingv1.VirtualService, host string) (istio.Target, error) {
	if host == "" {
		hosts := vs.Spec.GetHosts()
		if len(hosts) != 1 {
			return istio.Target{}, fmt.Errorf("hosts %q: name the Service with --host", hosts)
		}
		host = hosts[0]
	}
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "" || strings.Contains(h, "*") {
		return istio.Target{}, fmt.Errorf("host %q is not a Service: name the Service with --host", host)
	}
	parts := strings.SplitN(h, ".", 3)
	t := istio.Target{Name: parts[0], Namespace: vs.Namespace}
	if len(parts) > 1 {
		t.Namespace = parts[1]
	}
	if len(parts) == 3 && parts[2] != "svc" && parts[2] != "svc.cluster.local" {
		return istio.Target{}, fmt.Errorf("host %q is not an in-cluster Service name (NAME, NAME.NAMESPACE or NAME.NAMESPACE.svc.cluster.local)", host)
	}
	return t, nil
}
