package istio

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// memPatcher applies patches in memory, refusing the VirtualServices named in refuse.
type memPatcher struct {
	refuse map[string]bool
	sent   map[string]int
}

func (m *memPatcher) send(_ context.Context, vs *networkingv1.VirtualService, patch []byte) error {
	if m.sent == nil {
		m.sent = map[string]int{}
	}
	m.sent[vs.Name]++
	if m.refuse[vs.Name] {
		return fmt.Errorf("admission webhook denied the request to %s", vs.Name)
	}
	after, err := applyTo(vs, patch)
	if err != nil {
		return err
	}
	after.Namespace = vs.Namespace
	vs.Spec.Http = after.Spec.Http
	return nil
}

func TestWriteAll(t *testing.T) {
	tg := Target{Name: "reviews", Namespace: testNS}
	vs := func(name string, routes string) *networkingv1.VirtualService {
		return loadVS(t, "", "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: "+name+"}\nspec:\n  hosts: [reviews]\n  http:\n"+routes, name).vs
	}
	at25 := "  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 75}\n    - {destination: {host: reviews, subset: v2}, weight: 25}\n"
	stableAlone := "  - route:\n    - destination: {host: reviews, subset: v1}\n"
	noSubset := "  - route:\n    - destination: {host: reviews}\n"
	malformed := "  - route:\n    - {destination: {host: reviews, subset: v1}, weight: 70}\n    - {destination: {host: reviews, subset: v2}, weight: 25}\n"
	tests := map[string]struct {
		vss                                   []*networkingv1.VirtualService
		refuse                                []string
		written, unchanged, unmanaged, failed []string
	}{
		"every VirtualService written": {
			vss: []*networkingv1.VirtualService{vs("a", at25), vs("b", at25)}, written: []string{"a", "b"},
		},
		"a refusal does not stop the others": {
			vss: []*networkingv1.VirtualService{vs("a", at25), vs("b", at25), vs("c", at25)}, refuse: []string{"a"},
			written: []string{"b", "c"}, failed: []string{"a"},
		},
		"already rolled back, gateway route, malformed": {
			vss:       []*networkingv1.VirtualService{vs("a", stableAlone), vs("gw", noSubset), vs("bad", malformed), vs("d", at25)},
			unchanged: []string{"a"}, unmanaged: []string{"gw"}, failed: []string{"bad"}, written: []string{"d"},
		},
		"every write refused": {
			vss: []*networkingv1.VirtualService{vs("a", at25), vs("b", at25)}, refuse: []string{"a", "b"}, failed: []string{"a", "b"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := &memPatcher{refuse: map[string]bool{}}
			for _, n := range tc.refuse {
				m.refuse[n] = true
			}
			o := WriteAll(context.Background(), tc.vss, func(vs *networkingv1.VirtualService) ([]byte, bool, error) {
				return SetWeight(vs, tg, "v1", "v2", 0)
			}, m.send)
			var failed []string
			for _, f := range o.Failed {
				failed = append(failed, f.Name)
				if f.Err == nil {
					t.Errorf("failure of %s without an error", f.Name)
				}
			}
			for what, pair := range map[string][2][]string{"written": {o.Written, tc.written}, "unchanged": {o.Unchanged, tc.unchanged}, "unmanaged": {o.Unmanaged, tc.unmanaged}, "failed": {failed, tc.failed}} {
				if !slices.Equal(pair[0], pair[1]) {
					t.Errorf("%s %v, want %v", what, pair[0], pair[1])
				}
			}
			if o.Complete() != (len(tc.failed) == 0) {
				t.Errorf("Complete() = %v with failures %v", o.Complete(), failed)
			}
		})
	}
}

// routePool is every http route of the Istio fixtures plus shapes of our own, for
// FuzzRollbackWritesAll to build VirtualServices from.
func routePool(tb testing.TB) []*istiov1.HTTPRoute {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no fixtures: %v", err)
	}
	var pool []*istiov1.HTTPRoute
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		for _, o := range parseDocs(tb, data) {
			if o.vs != nil {
				pool = append(pool, o.vs.Spec.GetHttp()...)
			}
		}
	}
	for _, inline := range []string{mirrorVS, portVS} {
		for _, o := range parseDocs(tb, []byte(inline)) {
			pool = append(pool, o.vs.Spec.GetHttp()...)
		}
	}
	return pool
}

// FuzzRollbackWritesAll builds random sets of VirtualServices from the fixtures' routes,
// retargets some destinations to the rolled-out host and puts the canary at a random
// weight, refuses the writes of random VirtualServices, and checks that a rollback pass
// writes every VirtualService it can: afterwards no VirtualService that took (or did not
// need) the write sends to the canary; only refused or malformed ones are failures; every
// VirtualService is accounted for once; unmanaged ones are never sent a patch.
func FuzzRollbackWritesAll(f *testing.F) {
	pool := routePool(f)
	f.Add([]byte{3, 0, 1, 2, 5, 40, 9, 7, 200, 1, 3}, uint8(0b101))
	f.Add([]byte{1, 4, 4, 4, 4, 4}, uint8(0))
	f.Add([]byte{6, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37}, uint8(0xff))
	tg := Target{Name: "reviews", Namespace: testNS}
	f.Fuzz(func(t *testing.T, plan []byte, refuse uint8) {
		next := func() int {
			if len(plan) == 0 {
				return 0
			}
			b := int(plan[0])
			plan = plan[1:]
			return b
		}
		n := next()%6 + 1
		var vss []*networkingv1.VirtualService
		m := &memPatcher{refuse: map[string]bool{}}
		for i := range n {
			vs := &networkingv1.VirtualService{}
			vs.Name, vs.Namespace = fmt.Sprintf("vs%d", i), testNS
			vs.Spec.Hosts = []string{"reviews"}
			for range next()%3 + 1 {
				r := cloneRoute(pool[next()%len(pool)])
				if next()%2 == 0 {
					retarget(r, next())
				}
				vs.Spec.Http = append(vs.Spec.Http, r)
			}
			if refuse&(1<<i) != 0 {
				m.refuse[vs.Name] = true
			}
			vss = append(vss, vs)
		}
		before := map[string][]byte{}
		surveys := map[string]Survey{}
		for _, vs := range vss {
			before[vs.Name], _ = json.Marshal(vs)
			surveys[vs.Name] = SurveyRoutes(vs, tg, "v1", "v2")
		}
		o := WriteAll(context.Background(), vss, func(vs *networkingv1.VirtualService) ([]byte, bool, error) {
			return SetWeight(vs, tg, "v1", "v2", 0)
		}, m.send)

		seen := map[string]string{}
		note := func(names []string, what string) {
			for _, name := range names {
				if prev, dup := seen[name]; dup {
					t.Fatalf("%s is both %s and %s", name, prev, what)
				}
				seen[name] = what
			}
		}
		note(o.Written, "written")
		note(o.Unchanged, "unchanged")
		note(o.Unmanaged, "unmanaged")
		for _, fl := range o.Failed {
			note([]string{fl.Name}, "failed")
		}
		for _, vs := range vss {
			s := surveys[vs.Name]
			switch what := seen[vs.Name]; what {
			case "":
				t.Fatalf("%s is not accounted for", vs.Name)
			case "unmanaged":
				if s.Managed() || s.Err != nil || m.sent[vs.Name] > 0 {
					t.Fatalf("%s reported unmanaged (survey %+v, %d patches sent)", vs.Name, s, m.sent[vs.Name])
				}
				if after, _ := json.Marshal(vs); string(after) != string(before[vs.Name]) {
					t.Fatalf("unmanaged %s changed", vs.Name)
				}
			case "failed":
				if s.Err == nil && !m.refuse[vs.Name] {
					t.Fatalf("%s failed without being refused or malformed", vs.Name)
				}
			default: // written or unchanged: the canary is gone from every managed route
				infos, err := Inspect(vs, tg, "v1", "v2")
				if err != nil {
					t.Fatalf("%s after the rollback: %v", vs.Name, err)
				}
				for _, ri := range infos {
					if ri.Kind == Managed && (ri.CanaryWeight != 0 || ri.HasCanary || ri.MirrorsCanary) {
						t.Fatalf("%s (%s) still sends to the canary: %+v", vs.Name, what, ri)
					}
				}
			}
		}
	})
}

func cloneRoute(r *istiov1.HTTPRoute) *istiov1.HTTPRoute {
	data, _ := json.Marshal(r)
	out := &istiov1.HTTPRoute{}
	_ = json.Unmarshal(data, out)
	return out
}

// retarget points the route's destinations at reviews v1 (and v2 when it has two), with
// the canary at a weight chosen by b.
func retarget(r *istiov1.HTTPRoute, b int) {
	dests := r.GetRoute()
	if len(dests) == 0 {
		return
	}
	dests[0].Destination = &istiov1.Destination{Host: "reviews", Subset: "v1"}
	if len(dests) >= 2 {
		w := int32(b % 101)
		dests[1].Destination = &istiov1.Destination{Host: "reviews", Subset: "v2"}
		dests[0].Weight, dests[1].Weight = 100-w, w
		for _, d := range dests[2:] {
			d.Weight = 0
		}
	}
}
