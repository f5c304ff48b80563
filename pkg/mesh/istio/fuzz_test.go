package istio

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

// FuzzSetWeight feeds arbitrary VirtualService JSON and weights to SetWeight and
// Promote: they must never panic, and any returned patch, applied to the input, must
// yield a VirtualService that passes the invariants with the requested weights.
func FuzzSetWeight(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtureDir, "virtual-service-*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	files = append(files, filepath.Join(fixtureDir, "bookinfo-gateway.yaml"))
	var seeds [][]byte
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, o := range parseDocs(f, data) {
			if o.vs != nil {
				seeds = append(seeds, o.raw)
			}
		}
	}
	for _, inline := range []string{mirrorVS, portVS} {
		for _, o := range parseDocs(f, []byte(inline)) {
			seeds = append(seeds, o.raw)
		}
	}
	for i, doc := range seeds {
		for _, w := range []int32{0, 5, 100} {
			f.Add(doc, "reviews", "v1", "v2", w, i%2 == 0)
		}
		f.Add(doc, "ratings", "v1", "v2", int32(50), false)
		f.Add(doc, "productpage", "v1", "v2", int32(25), true)
	}
	f.Add([]byte(`{"spec":{"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"},"weight":-3},{"destination":{"host":"reviews","subset":"v2"},"weight":103}]}]}}`), "reviews", "v1", "v2", int32(5), false)
	f.Add([]byte(`{"spec":{"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"},"weight":100},{"destination":{"host":"reviews","subset":"v2"}}],"mirror":{"host":"reviews","subset":"v2"},"mirrorPercent":5}]}}`), "reviews", "v1", "v2", int32(0), false)

	// JSON that encoding/json and a JSON patch read differently (a key matched case-insensitively).
	f.Add([]byte(`{"spec":{"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"}},{"destination":{"host":"x"},"weight":100}]}]},"Spec":{"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"}}]}]}}`), "reviews", "v1", "v2", int32(5), false)

	f.Fuzz(func(t *testing.T, doc []byte, name, stable, canary string, w int32, promote bool) {
		vs := &networkingv1.VirtualService{}
		if err := json.Unmarshal(doc, vs); err != nil {
			return
		}
		if vs.Namespace == "" {
			vs.Namespace = testNS
		}
		tg := Target{Name: name, Namespace: vs.Namespace}
		_, _ = Inspect(vs, tg, stable, canary)
		_, _ = ServingSubset(vs, tg)
		_ = RoutesTo(vs, tg)

		var patch []byte
		var changed bool
		var err error
		wantStable, wantCanary, check := stable, canary, w
		if promote {
			patch, changed, err = Promote(vs, tg, stable, canary)
			wantStable, wantCanary, check = canary, "", 0
		} else {
			patch, changed, err = SetWeight(vs, tg, stable, canary, w)
		}
		if err != nil || !changed {
			if patch != nil {
				t.Fatalf("patch returned with changed=%t err=%v", changed, err)
			}
			return
		}
		if !promote && (w < 0 || w > 100) {
			t.Fatalf("SetWeight accepted weight %d", w)
		}
		canonical, err := json.Marshal(vs)
		if err != nil {
			t.Fatal(err)
		}
		inputs := map[string][]byte{"canonical": canonical}
		if unambiguous(doc) {
			inputs["raw"] = doc
		}
		for what, input := range inputs {
			out, err := applyPatch(input, patch)
			if err != nil {
				if what == "canonical" {
					t.Fatalf("patch %s does not apply to the object it was computed from: %v", patch, err)
				}
				continue // the raw input may spell fields differently; the patch then fails safely
			}
			after := &networkingv1.VirtualService{}
			if err := json.Unmarshal(out, after); err != nil {
				t.Fatalf("%s: patched document does not decode: %v\n%s", what, err, out)
			}
			after.Namespace = vs.Namespace
			if err := checkInvariants(after, tg); err != nil {
				t.Fatalf("%s: invariants broken by patch %s: %v\nbefore %s\nafter  %s", what, patch, err, input, out)
			}
			infos, err := Inspect(after, tg, wantStable, wantCanary)
			if err != nil {
				t.Fatalf("%s: patched VirtualService fails Inspect: %v", what, err)
			}
			managed := false
			for _, in := range infos {
				managed = managed || (in.Kind == Managed && in.CanaryWeight == check)
			}
			if !managed {
				t.Fatalf("%s: no managed route at canary weight %d after patch %s: %+v", what, check, patch, infos)
			}
		}
	})
}

// unambiguous reports whether a JSON patch and encoding/json read doc as the same
// VirtualService. They differ on keys matched case-insensitively ("Spec" beside "spec"),
// which the API server never sends (it stores normalised JSON).
func unambiguous(doc []byte) bool {
	var generic any
	if err := json.Unmarshal(doc, &generic); err != nil {
		return false
	}
	norm, err := json.Marshal(generic)
	if err != nil {
		return false
	}
	direct, ok1 := reencode(doc)
	normal, ok2 := reencode(norm)
	return ok1 && ok2 && direct == normal
}

// reencode decodes a VirtualService and encodes it again.
func reencode(doc []byte) (string, bool) {
	vs := &networkingv1.VirtualService{}
	if json.Unmarshal(doc, vs) != nil {
		return "", false
	}
	out, err := json.Marshal(vs)
	return string(out), err == nil
}
