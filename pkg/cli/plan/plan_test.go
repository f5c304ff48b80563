package plan

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

const fixtures = "../../../testdata/istio"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// route is the expected treatment and weights of one route: kind, before → after.
type route struct {
	kind                             string
	treatment                        Treatment
	sBefore, cBefore, sAfter, cAfter int32
}

func TestPlan(t *testing.T) {
	tests := map[string]struct {
		input      []byte
		validation Validation
		opts       Options
		// want maps namespace/name to the routes expected (nil = no route to the host).
		want     map[string][]route
		patched  int      // how many VirtualServices get a patch
		warnings []string // substrings, in order
		skipped  int
		err      string
	}{
		"all-v1: each VirtualService for its own host": {
			input: fixture(t, "virtual-service-all-v1.yaml"), opts: Options{Canary: "v2", Weight: 25},
			want: map[string][]route{
				"default/productpage": {{"Managed", Managed, 100, 0, 75, 25}}, "default/reviews": {{"Managed", Managed, 100, 0, 75, 25}},
				"default/ratings": {{"Managed", Managed, 100, 0, 75, 25}}, "default/details": {{"Managed", Managed, 100, 0, 75, 25}},
			},
			patched: 4,
		},
		"all-v1 with --host: the others are left alone": {
			input: fixture(t, "virtual-service-all-v1.yaml"), opts: Options{Host: "reviews.default.svc.cluster.local", Canary: "v3", Weight: 5},
			want:    map[string][]route{"default/productpage": nil, "default/reviews": {{"Managed", Managed, 100, 0, 95, 5}}, "default/ratings": nil, "default/details": nil},
			patched: 1,
		},
		"-n sets the namespace of VirtualServices without one": {
			input: fixture(t, "virtual-service-all-v1.yaml"), opts: Options{Host: "reviews.shop", Namespace: "shop", Canary: "v2", Weight: 5},
			want:    map[string][]route{"shop/productpage": nil, "shop/reviews": {{"Managed", Managed, 100, 0, 95, 5}}, "shop/ratings": nil, "shop/details": nil},
			patched: 1,
		},
		"90-10 to 50": {
			input: fixture(t, "virtual-service-reviews-90-10.yaml"), opts: Options{Stable: "v1", Canary: "v2", Weight: 50},
			want: map[string][]route{"default/reviews": {{"Managed", Managed, 90, 10, 50, 50}}}, patched: 1,
		},
		"90-10 rolled back": {
			input: fixture(t, "virtual-service-reviews-90-10.yaml"), opts: Options{Stable: "v1", Canary: "v2", Weight: 0},
			want: map[string][]route{"default/reviews": {{"Managed", Managed, 90, 10, 100, 0}}}, patched: 1,
		},
		"90-10 promoted": {
			input: fixture(t, "virtual-service-reviews-90-10.yaml"), opts: Options{Stable: "v1", Canary: "v2", Promote: true},
			want: map[string][]route{"default/reviews": {{"Managed", Managed, 90, 10, 0, 100}}}, patched: 1,
		},
		"90-10 already there: no change": {
			input: fixture(t, "virtual-service-reviews-90-10.yaml"), opts: Options{Stable: "v1", Canary: "v2", Weight: 10},
			want: map[string][]route{"default/reviews": {{"Managed", Managed, 90, 10, 90, 10}}}, patched: 0,
		},
		"jason route pinned to v2 is left alone": {
			input: fixture(t, "virtual-service-reviews-jason-v2-v3.yaml"), opts: Options{Canary: "v2", Weight: 25},
			want: map[string][]route{"default/reviews": {{"Pinned", LeftAlone, 0, 100, 0, 100}, {"Managed", Managed, 100, 0, 75, 25}}}, patched: 1,
		},
		"fault injection route: unknown deprecated field is an error by default": {
			input: fixture(t, "virtual-service-ratings-test-abort.yaml"), opts: Options{Canary: "v2", Weight: 25},
			err: `unknown field "percent" at spec.http[0].fault.abort.percent`,
		},
		"fault injection route with --validate=warn: both routes managed, fault kept": {
			input: fixture(t, "virtual-service-ratings-test-abort.yaml"), validation: Warn, opts: Options{Canary: "v2", Weight: 25},
			want:    map[string][]route{"default/ratings": {{"Managed", Managed, 100, 0, 75, 25}, {"Managed", Managed, 100, 0, 75, 25}}},
			patched: 1, warnings: []string{`unknown field "percent"`},
		},
		"gateway VirtualService: the route has no subset": {
			input: fixture(t, "bookinfo-gateway.yaml"), opts: Options{Host: "productpage", Stable: "v1", Canary: "v2", Weight: 25},
			err: "http[0] left alone (sends to productpage without a subset)",
		},
		"gateway VirtualService without --host": {
			input: fixture(t, "bookinfo-gateway.yaml"), opts: Options{Canary: "v2", Weight: 25}, err: "name the Service with --host",
		},
		"only DestinationRules": {
			input: fixture(t, "destination-rule-all.yaml"), opts: Options{Canary: "v2", Weight: 25}, err: "no VirtualService in the input (found DestinationRule/productpage",
		},
		"a host no route serves": {
			input: fixture(t, "virtual-service-reviews-90-10.yaml"), opts: Options{Host: "frontend", Stable: "v1", Canary: "v2", Weight: 25},
			err: "no http route of default/reviews sends to frontend",
		},
		"skipped kinds are reported": {
			input: append(append(fixture(t, "destination-rule-all.yaml"), "\n---\n"...), fixture(t, "virtual-service-reviews-90-10.yaml")...),
			opts:  Options{Stable: "v1", Canary: "v2", Weight: 50}, want: map[string][]route{"default/reviews": {{"Managed", Managed, 90, 10, 50, 50}}},
			patched: 1, skipped: 4,
		},
		"a v1 List": {
			input: []byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"a","namespace":"x"},"spec":{"hosts":["reviews"],"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"}}]}]}}]}`),
			opts:  Options{Canary: "v2", Weight: 5}, want: map[string][]route{"x/a": {{"Managed", Managed, 100, 0, 95, 5}}}, patched: 1,
		},
		"invalid YAML":                           {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nspec: [unclosed\n"), opts: Options{Canary: "v2", Weight: 5}, err: "document 1: invalid YAML"},
		"duplicate key":                          {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nkind: VirtualService\n"), opts: Options{Canary: "v2", Weight: 5}, err: "invalid YAML"},
		"unknown top-level field":                {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nSpec: {}\n"), opts: Options{Canary: "v2", Weight: 5}, err: `unknown field(s) "Spec"`},
		"misspelt spec field":                    {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec: {hosts: [r], http: [{route: [{destination: {host: r, subset: v1}, wieght: 100}]}]}\n"), opts: Options{Canary: "v2", Weight: 5}, err: `unknown field "wieght" at spec.http[0].route[0].wieght`},
		"unknown metadata field":                 {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r, labelz: {}}\nspec: {}\n"), opts: Options{Canary: "v2", Weight: 5}, err: `unknown field "labelz"`},
		"wrong value type":                       {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec: {hosts: [r], http: [{route: [{destination: {host: r, subset: v1}, weight: 5.5}]}]}\n"), validation: Ignore, opts: Options{Canary: "v2", Weight: 5}, err: "spec:"},
		"weights not summing to 100":             {input: []byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: r}\nspec: {hosts: [r], http: [{route: [{destination: {host: r, subset: v1}, weight: 60}, {destination: {host: r, subset: v2}, weight: 30}]}]}\n"), opts: Options{Stable: "v1", Canary: "v2", Weight: 5}, err: "sum to 90"},
		"a VirtualService of an unknown version": {input: []byte("apiVersion: networking.istio.io/v2\nkind: VirtualService\n"), opts: Options{Canary: "v2", Weight: 5}, err: "apiVersion"},
		"not an object":                          {input: []byte("- a\n- b\n"), opts: Options{Canary: "v2", Weight: 5}, err: "not an object"},
		"empty":                                  {input: []byte("# nothing\n---\n"), opts: Options{Canary: "v2", Weight: 5}, err: "no VirtualService"},
		"canary is the serving subset": {
			input: fixture(t, "virtual-service-all-v1.yaml"), opts: Options{Host: "reviews", Canary: "v1", Weight: 5}, err: "it is the stable subset",
		},
		"bad weight": {input: fixture(t, "virtual-service-all-v1.yaml"), opts: Options{Canary: "v2", Weight: 101}, err: "--weight 101"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := tc.validation
			if v == "" {
				v = Strict
			}
			in, err := Decode(tc.input, v)
			var results []Result
			if err == nil {
				results, err = Run(in.Docs, tc.opts)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(in.Skipped) != tc.skipped {
				t.Errorf("skipped %v, want %d", in.Skipped, tc.skipped)
			}
			if len(in.Warnings) != len(tc.warnings) {
				t.Errorf("warnings %q, want %q", in.Warnings, tc.warnings)
			}
			for i, w := range tc.warnings {
				if i < len(in.Warnings) && !strings.Contains(in.Warnings[i], w) {
					t.Errorf("warning %q lacks %q", in.Warnings[i], w)
				}
			}
			if len(results) != len(tc.want) {
				t.Fatalf("%d results, want %d", len(results), len(tc.want))
			}
			patched := 0
			for _, r := range results {
				want, ok := tc.want[r.ID()]
				if !ok {
					t.Fatalf("unexpected result for %s", r.ID())
				}
				if r.RoutesToHost != (want != nil) {
					t.Errorf("%s: routesToHost = %t", r.ID(), r.RoutesToHost)
				}
				if len(r.Routes) != len(want) {
					t.Fatalf("%s: routes %+v, want %+v", r.ID(), r.Routes, want)
				}
				for i, w := range want {
					g := r.Routes[i]
					got := route{g.Kind, g.Treatment, g.StableBefore, g.CanaryBefore, g.StableAfter, g.CanaryAfter}
					if got != w {
						t.Errorf("%s route %d = %+v, want %+v", r.ID(), i, got, w)
					}
				}
				if r.Patch != nil {
					patched++
					checkPatch(t, in, r)
				}
			}
			if patched != tc.patched {
				t.Errorf("%d patches, want %d", patched, tc.patched)
			}
		})
	}
}

// checkPatch applies the patch to the document as given and checks that it yields After,
// and that After keeps every field of the input outside the routes' destinations.
func checkPatch(t *testing.T, in *Input, r Result) {
	t.Helper()
	doc := in.Docs[0]
	for _, d := range in.Docs {
		if d.Index == r.Document {
			doc = d
		}
	}
	p, err := jsonpatch.DecodePatch(r.Patch)
	if err != nil {
		t.Fatalf("%s: patch does not decode: %v", r.ID(), err)
	}
	got, err := p.Apply(doc.Raw)
	if err != nil {
		t.Fatalf("%s: patch does not apply: %v", r.ID(), err)
	}
	if !jsonpatch.Equal(got, r.After) {
		t.Errorf("%s: After differs from the patched input", r.ID())
	}
	var before, after map[string]any
	_ = json.Unmarshal(doc.Raw, &before)
	_ = json.Unmarshal(r.After, &after)
	for _, k := range []string{"apiVersion", "kind", "metadata"} {
		b, _ := json.Marshal(before[k])
		a, _ := json.Marshal(after[k])
		if !bytes.Equal(a, b) {
			t.Errorf("%s: %s changed", r.ID(), k)
		}
	}
}

// FuzzPlan feeds arbitrary input to Decode and Run: they must never panic, and any patch
// must apply to its document and give a VirtualService that passes sluice's invariants.
func FuzzPlan(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(fixtures, "*.yaml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "", "", "v2", int32(25), false)
		f.Add(data, "reviews", "v1", "v3", int32(0), true)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: x}, spec: {http: [{route: [{destination: {host: reviews, subset: v1}}]}]}}]"), "reviews", "", "v2", int32(50), false)
	f.Add([]byte(`{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","spec":{"http":[{"route":[{"destination":{"host":"reviews","subset":"v1"},"weight":-3},{"destination":{"host":"reviews","subset":"v2"},"weight":103}]}]}}`), "reviews", "v1", "v2", int32(5), false)
	f.Fuzz(func(t *testing.T, data []byte, host, stable, canary string, w int32, promote bool) {
		in, err := Decode(data, Warn)
		if err != nil {
			return
		}
		results, err := Run(in.Docs, Options{Host: host, Stable: stable, Canary: canary, Weight: w, Promote: promote})
		if err != nil {
			return
		}
		for _, r := range results {
			if r.Patch == nil {
				continue
			}
			var doc Document
			for _, d := range in.Docs {
				if d.Index == r.Document {
					doc = d
				}
			}
			p, err := jsonpatch.DecodePatch(r.Patch)
			if err != nil {
				t.Fatalf("patch does not decode: %v", err)
			}
			if _, err := p.Apply(doc.Raw); err != nil {
				t.Fatalf("patch does not apply to its document: %v", err)
			}
			after := &networkingv1.VirtualService{}
			if err := json.Unmarshal(r.After, after); err != nil {
				t.Fatalf("patched document does not decode: %v", err)
			}
			if after.Namespace == "" {
				after.Namespace = r.Namespace
			}
			tg, err := target(after, host)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := istio.Inspect(after, tg, r.Stable, r.Canary); err != nil {
				t.Fatalf("patched VirtualService fails the invariants: %v", err)
			}
		}
	})
}
