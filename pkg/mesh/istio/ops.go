package istio

import (
	"fmt"

	istiov1 "istio.io/api/networking/v1"
)

// op is one RFC 6902 operation.
type op struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// newDestination is the JSON of an added destination, fields in Istio's usual order.
type newDestination struct {
	Destination destinationJSON `json:"destination"`
	Weight      int32           `json:"weight"`
}

type destinationJSON struct {
	Host   string    `json:"host"`
	Subset string    `json:"subset"`
	Port   *portJSON `json:"port,omitempty"`
}

type portJSON struct {
	Number uint32 `json:"number"`
}

// builder accumulates test ops (emitted first) and edits.
type builder struct {
	tests, edits []op
}

func (b *builder) test(path string, v any) {
	b.tests = append(b.tests, op{Op: "test", Path: path, Value: v})
}
func (b *builder) remove(path string) { b.edits = append(b.edits, op{Op: "remove", Path: path}) }

// setWeight writes a weight; a read weight of 0 may be an absent field, so it uses add.
func (b *builder) setWeight(path string, old, v int32) {
	kind := "replace"
	if old == 0 {
		kind = "add"
	}
	b.edits = append(b.edits, op{Op: kind, Path: path, Value: v})
}

func routePath(i int) string { return fmt.Sprintf("/spec/http/%d", i) }
func destPath(i, j int) string {
	return fmt.Sprintf("/spec/http/%d/route/%d", i, j)
}

// pin tests every destination's host, subset and weight of route i (absent and zero
// values cannot be tested). Testing the last element pins the destination count from below.
func (b *builder) pin(i int, r *istiov1.HTTPRoute) {
	for j, d := range r.GetRoute() {
		p := destPath(i, j)
		b.test(p+"/destination/host", d.GetDestination().GetHost())
		if s := d.GetDestination().GetSubset(); s != "" {
			b.test(p+"/destination/subset", s)
		}
		if w := d.GetWeight(); w != 0 {
			b.test(p+"/weight", w)
		}
	}
}

func (b *builder) shift(r *istiov1.HTTPRoute, st routeState, canary string, w int32) {
	if st.HasCanary && st.StableWeight == 100-w && st.CanaryWeight == w {
		return
	}
	i := st.Index
	b.pin(i, r)
	s := r.Route[st.stableIdx]
	if !st.HasCanary || s.GetWeight() != 100-w {
		b.setWeight(destPath(i, st.stableIdx)+"/weight", s.GetWeight(), 100-w)
	}
	if st.HasCanary {
		if c := r.Route[st.canaryIdx]; c.GetWeight() != w {
			b.setWeight(destPath(i, st.canaryIdx)+"/weight", c.GetWeight(), w)
		}
		return
	}
	add := newDestination{Destination: destinationJSON{Host: s.GetDestination().GetHost(), Subset: canary}, Weight: w}
	if n := s.GetDestination().GetPort().GetNumber(); n != 0 {
		b.test(destPath(i, st.stableIdx)+"/destination/port/number", n)
		add.Destination.Port = &portJSON{Number: n}
	}
	b.edits = append(b.edits, op{Op: "add", Path: destPath(i, len(r.Route)), Value: add})
}

func (b *builder) rollback(r *istiov1.HTTPRoute, st routeState, t Target, ns, canary string) {
	if !st.HasCanary && !st.MirrorsCanary {
		return
	}
	i := st.Index
	b.pin(i, r)
	if st.HasCanary {
		if s := r.Route[st.stableIdx]; s.GetWeight() != 100 {
			b.setWeight(destPath(i, st.stableIdx)+"/weight", s.GetWeight(), 100)
		}
		b.remove(destPath(i, st.canaryIdx))
	}
	b.dropMirrors(r, i, t, ns, canary)
}

func (b *builder) promote(r *istiov1.HTTPRoute, st routeState, t Target, ns, canary string) {
	i := st.Index
	b.pin(i, r)
	if st.HasCanary {
		if c := r.Route[st.canaryIdx]; c.GetWeight() != 100 {
			b.setWeight(destPath(i, st.canaryIdx)+"/weight", c.GetWeight(), 100)
		}
		b.remove(destPath(i, st.stableIdx))
	} else {
		b.edits = append(b.edits, op{Op: "replace", Path: destPath(i, st.stableIdx) + "/destination/subset", Value: canary})
	}
	b.dropMirrors(r, i, t, ns, canary)
}

// dropMirrors removes route i's mirror and mirrors entries to the canary subset.
func (b *builder) dropMirrors(r *istiov1.HTTPRoute, i int, t Target, ns, canary string) {
	base := routePath(i)
	if m := r.GetMirror(); isSubsetOf(m, t, ns, canary) {
		b.test(base+"/mirror/host", m.GetHost())
		b.test(base+"/mirror/subset", m.GetSubset())
		b.remove(base + "/mirror")
		if r.GetMirrorPercentage() != nil {
			b.remove(base + "/mirrorPercentage")
		}
		//lint:ignore SA1019 the deprecated mirrorPercent belongs to the mirror being removed
		if r.GetMirrorPercent() != nil {
			b.remove(base + "/mirrorPercent")
		}
	}
	var drop []int
	for k, m := range r.GetMirrors() {
		if d := m.GetDestination(); isSubsetOf(d, t, ns, canary) {
			p := fmt.Sprintf("%s/mirrors/%d/destination", base, k)
			b.test(p+"/host", d.GetHost())
			b.test(p+"/subset", d.GetSubset())
			drop = append(drop, k)
		}
	}
	if len(drop) > 0 && len(drop) == len(r.GetMirrors()) {
		b.remove(base + "/mirrors")
		return
	}
	for k := len(drop) - 1; k >= 0; k-- { // descending, so indices stay valid
		b.remove(fmt.Sprintf("%s/mirrors/%d", base, drop[k]))
	}
}
