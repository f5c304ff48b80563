package istio

import (
	"encoding/json"
	"errors"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// ErrNoManagedRoute means the VirtualService has no http route sluice may shift for the
// target (see Inspect for why each route is left alone).
var ErrNoManagedRoute = errors.New("no managed route")

// SetWeight returns the JSON patch (RFC 6902) that sets the canary weight to w (0..100)
// in every Managed route, stable getting 100-w. A missing canary destination is added
// (stable's host and port, subset canary) when w > 0; w == 0 removes the canary
// destination and any mirror to the canary, leaving stable alone at 100. changed is
// false and the patch nil when nothing would change. The patch starts with test ops
// pinning the destinations it read, so a concurrent edit makes it fail.
func SetWeight(vs *networkingv1.VirtualService, t Target, stable, canary string, w int32) (patch []byte, changed bool, err error) {
	what := fmt.Sprintf("setting canary %q weight of %s to %d", canary, t, w)
	if w < 0 || w > 100 {
		return nil, false, fmt.Errorf("%s: weight outside 0..100", what)
	}
	if stable == "" {
		return nil, false, fmt.Errorf("%s: no stable subset", what)
	}
	if canary == stable {
		canary = ""
	}
	if canary == "" && w > 0 {
		return nil, false, fmt.Errorf("%s: no canary subset distinct from stable %q", what, stable)
	}
	managed, _, err := managedRoutes(vs, t, stable, canary, what)
	if err != nil {
		return nil, false, err
	}
	var b builder
	for _, st := range managed {
		r := vs.Spec.Http[st.Index]
		if w > 0 {
			b.shift(r, st, canary, w)
		} else {
			b.rollback(r, st, t, vs.Namespace, canary)
		}
	}
	return b.finish(vs, what, func(after *networkingv1.VirtualService) error {
		return expectRoutes(after, t, stable, canary, managed, 100-w, w)
	})
}

// Promote returns the patch leaving only the canary destination, at weight 100, in every
// Managed route: the old stable destination and any mirror to the canary are removed (a
// route without a canary destination gets stable's destination renamed to canary).
// changed is false when every route already sends the target only to the canary.
func Promote(vs *networkingv1.VirtualService, t Target, stable, canary string) (patch []byte, changed bool, err error) {
	what := fmt.Sprintf("promoting canary %q of %s", canary, t)
	if stable == "" || canary == "" || canary == stable {
		return nil, false, fmt.Errorf("%s: need distinct stable (%q) and canary subsets", what, stable)
	}
	managed, all, err := managedRoutes(vs, t, stable, canary, "")
	if err != nil && !errors.Is(err, ErrNoManagedRoute) {
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	if len(managed) == 0 {
		for _, st := range all {
			if st.Kind == Pinned && st.HasCanary && st.CanaryWeight == 100 {
				return nil, false, nil // already promoted
			}
		}
		return nil, false, fmt.Errorf("%s: %w", what, err)
	}
	var b builder
	for _, st := range managed {
		b.promote(vs.Spec.Http[st.Index], st, t, vs.Namespace, canary)
	}
	return b.finish(vs, what, func(after *networkingv1.VirtualService) error {
		return expectRoutes(after, t, canary, "", managed, 100, 0)
	})
}

// managedRoutes inspects vs and returns its Managed routes (ErrNoManagedRoute when none)
// and all routes to the target.
func managedRoutes(vs *networkingv1.VirtualService, t Target, stable, canary, what string) (managed, all []routeState, err error) {
	all, err = inspect(vs, t, stable, canary)
	if err != nil {
		return nil, nil, prefix(what, err)
	}
	for _, st := range all {
		if st.Kind == Managed {
			managed = append(managed, st)
		}
	}
	if len(managed) == 0 {
		return nil, all, prefix(what, fmt.Errorf("VirtualService %s/%s has %w for %s: %s",
			vs.Namespace, vs.Name, ErrNoManagedRoute, t, SurveyRoutes(vs, t, stable, canary).Unmanaged()))
	}
	return managed, all, nil
}

func prefix(what string, err error) error {
	if what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// expectRoutes re-checks a patched VirtualService: the routes that were managed are
// still managed with the wanted weights, carry a canary destination only when the
// canary weight is above 0, and no longer mirror to the canary when it is 0. Inspect
// itself re-validates the invariants of every route to the target.
func expectRoutes(after *networkingv1.VirtualService, t Target, stable, canary string, before []routeState, sw, cw int32) error {
	states, err := inspect(after, t, stable, canary)
	if err != nil {
		return err
	}
	byIndex := map[int]routeState{}
	for _, st := range states {
		byIndex[st.Index] = st
	}
	for _, b := range before {
		st, ok := byIndex[b.Index]
		switch {
		case !ok || st.Kind != Managed:
			return fmt.Errorf("http route %d is no longer managed (%s)", b.Index, st.Reason)
		case st.StableWeight != sw || st.CanaryWeight != cw:
			return fmt.Errorf("http route %d has weights %d/%d, want %d/%d", b.Index, st.StableWeight, st.CanaryWeight, sw, cw)
		case st.HasCanary != (cw > 0):
			return fmt.Errorf("http route %d: canary destination present=%t at weight %d", b.Index, st.HasCanary, cw)
		case cw == 0 && st.MirrorsCanary:
			return fmt.Errorf("http route %d still mirrors to the canary", b.Index)
		}
	}
	return nil
}

// finish assembles the patch, applies it to vs's own JSON and re-checks the result.
func (b *builder) finish(vs *networkingv1.VirtualService, what string, check func(*networkingv1.VirtualService) error) ([]byte, bool, error) {
	if len(b.edits) == 0 {
		return nil, false, nil
	}
	patch, err := json.Marshal(append(b.tests, b.edits...))
	if err != nil {
		return nil, false, fmt.Errorf("%s: encoding patch: %w", what, err)
	}
	after, err := applyTo(vs, patch)
	if err != nil {
		return nil, false, fmt.Errorf("%s: checking patch: %w", what, err)
	}
	if err := check(after); err != nil {
		return nil, false, fmt.Errorf("%s: patched VirtualService fails its invariants (refusing to write): %w", what, err)
	}
	return patch, true, nil
}

// applyTo applies a JSON patch to a copy of vs and decodes the result.
func applyTo(vs *networkingv1.VirtualService, patch []byte) (*networkingv1.VirtualService, error) {
	doc, err := json.Marshal(vs)
	if err != nil {
		return nil, fmt.Errorf("encoding VirtualService: %w", err)
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, fmt.Errorf("decoding patch: %w", err)
	}
	out, err := p.Apply(doc)
	if err != nil {
		return nil, fmt.Errorf("applying patch: %w", err)
	}
	after := &networkingv1.VirtualService{}
	if err := json.Unmarshal(out, after); err != nil {
		return nil, fmt.Errorf("decoding patched VirtualService: %w", err)
	}
	return after, nil
}
