package istio

import (
	"errors"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var reviews = Target{Name: "reviews", Namespace: testNS}

const mirrorVS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - name: main
    timeout: 3s
    retries: {attempts: 3, perTryTimeout: 1s}
    route:
    - destination: {host: reviews, subset: v1, port: {number: 9080}}
      weight: 90
      headers: {request: {set: {x-version: v1}}}
    - destination: {host: reviews, subset: v2, port: {number: 9080}}
      weight: 10
    mirror: {host: reviews, subset: v2}
    mirrorPercentage: {value: 50}
    mirrors:
    - destination: {host: shadow}
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
      percentage: {value: 5}
`

const portVS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - match: [{uri: {prefix: /ratings}}]
    route:
    - destination: {host: ratings, subset: v1}
  - corsPolicy: {allowOrigins: [{exact: "https://example.com"}]}
    headers: {response: {add: {x-served-by: sluice-test}}}
    route:
    - destination: {host: reviews.default.svc.cluster.local, port: {number: 9080}, subset: v1}
  tcp:
  - route:
    - destination: {host: reviews, subset: v1, port: {number: 9000}}
`

func TestSetWeight(t *testing.T) {
	tests := map[string]struct {
		file, inline, name string
		stable, canary     string
		w                  int32
		wantHTTP           string // spec.http after the patch as YAML; "" means unchanged
	}{
		"all-v1 idle to 5%": {file: "virtual-service-all-v1.yaml", name: "reviews", stable: "v1", canary: "v2", w: 5,
			wantHTTP: `[{route: [{destination: {host: reviews, subset: v1}, weight: 95}, {destination: {host: reviews, subset: v2}, weight: 5}]}]`},
		"90-10 mid-rollout to 25%": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2", w: 25,
			wantHTTP: `[{route: [{destination: {host: reviews, subset: v1}, weight: 75}, {destination: {host: reviews, subset: v2}, weight: 25}]}]`},
		"90-10 at 10% is unchanged": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2", w: 10},
		"90-10 to 100%": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2", w: 100,
			wantHTTP: `[{route: [{destination: {host: reviews, subset: v1}, weight: 0}, {destination: {host: reviews, subset: v2}, weight: 100}]}]`},
		"90-10 rolled back": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2", w: 0,
			wantHTTP: `[{route: [{destination: {host: reviews, subset: v1}, weight: 100}]}]`},
		"idle rollback is unchanged": {file: "virtual-service-all-v1.yaml", name: "reviews", stable: "v1", canary: "v2", w: 0},
		"jason route pinned to v2 left alone": {file: "virtual-service-reviews-jason-v2-v3.yaml", stable: "v3", canary: "v2", w: 5,
			wantHTTP: `[{match: [{headers: {end-user: {exact: jason}}}], route: [{destination: {host: reviews, subset: v2}}]},
			            {route: [{destination: {host: reviews, subset: v3}, weight: 95}, {destination: {host: reviews, subset: v2}, weight: 5}]}]`},
		"ratings fault injection preserved": {file: "virtual-service-ratings-test-abort.yaml", stable: "v1", canary: "v2", w: 50,
			wantHTTP: `[{match: [{headers: {end-user: {exact: jason}}}], fault: {abort: {percent: 100, httpStatus: 500}},
			             route: [{destination: {host: ratings, subset: v1}, weight: 50}, {destination: {host: ratings, subset: v2}, weight: 50}]},
			            {route: [{destination: {host: ratings, subset: v1}, weight: 50}, {destination: {host: ratings, subset: v2}, weight: 50}]}]`},
		"canary copies stable's port, other host and tcp untouched": {inline: portVS, stable: "v1", canary: "v2", w: 5,
			wantHTTP: `[{match: [{uri: {prefix: /ratings}}], route: [{destination: {host: ratings, subset: v1}}]},
			            {corsPolicy: {allowOrigins: [{exact: "https://example.com"}]}, headers: {response: {add: {x-served-by: sluice-test}}},
			             route: [{destination: {host: reviews.default.svc.cluster.local, port: {number: 9080}, subset: v1}, weight: 95},
			                     {destination: {host: reviews.default.svc.cluster.local, subset: v2, port: {number: 9080}}, weight: 5}]}]`},
		"rollback removes canary and mirrors": {inline: mirrorVS, stable: "v1", canary: "v2", w: 0,
			wantHTTP: `[{name: main, timeout: 3s, retries: {attempts: 3, perTryTimeout: 1s},
			             route: [{destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 100, headers: {request: {set: {x-version: v1}}}}],
			             mirrors: [{destination: {host: shadow}}]}]`},
		"shift keeps mirrors": {inline: mirrorVS, stable: "v1", canary: "v2", w: 50,
			wantHTTP: `[{name: main, timeout: 3s, retries: {attempts: 3, perTryTimeout: 1s},
			             route: [{destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 50, headers: {request: {set: {x-version: v1}}}},
			                     {destination: {host: reviews, subset: v2, port: {number: 9080}}, weight: 50}],
			             mirror: {host: reviews, subset: v2}, mirrorPercentage: {value: 50},
			             mirrors: [{destination: {host: shadow}}, {destination: {host: reviews.default.svc.cluster.local, subset: v2}, percentage: {value: 5}}]}]`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, tc.inline, tc.name)
			patch, changed, err := SetWeight(o.vs, reviewsOrRatings(o), tc.stable, tc.canary, tc.w)
			if err != nil {
				t.Fatalf("SetWeight: %v", err)
			}
			if tc.wantHTTP == "" {
				if changed || patch != nil {
					t.Fatalf("want no change, got changed=%t patch %s", changed, patch)
				}
				return
			}
			if !changed {
				t.Fatal("want changed")
			}
			after, err := applyPatch(o.raw, patch)
			if err != nil {
				t.Fatalf("applying patch %s: %v", patch, err)
			}
			assertHTTP(t, after, tc.wantHTTP)
			assertOthersIdentical(t, o.raw, after, patch)
			if err := checkInvariants(decodeVS(t, after), reviewsOrRatings(o)); err != nil {
				t.Errorf("invariants: %v", err)
			}
			// Applying the same operation to the result changes nothing more.
			if p2, ch2, err := SetWeight(decodeVS(t, after), reviewsOrRatings(o), tc.stable, tc.canary, tc.w); err != nil || ch2 {
				t.Errorf("second SetWeight: changed=%t err=%v patch %s", ch2, err, p2)
			}
		})
	}
}

// reviewsOrRatings picks the target a fixture is about.
func reviewsOrRatings(o object) Target {
	if o.vs.Name == "ratings" {
		return Target{Name: "ratings", Namespace: testNS}
	}
	return reviews
}

func assertHTTP(t *testing.T, doc []byte, wantYAML string) {
	t.Helper()
	var got struct {
		Spec struct {
			HTTP any `json:"http"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	gotJSON, err := yaml.Marshal(got.Spec.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := yaml.YAMLToJSON(gotJSON)
	w, err := yaml.YAMLToJSON([]byte(wantYAML))
	if err != nil {
		t.Fatalf("want YAML: %v", err)
	}
	if !jsonEqual(t, g, w) {
		t.Errorf("spec.http:\n got  %s\n want %s", g, w)
	}
}

func TestPromote(t *testing.T) {
	tests := map[string]struct {
		file, inline     string
		stable, canary   string
		wantHTTP, errHas string // wantHTTP "" and errHas "" means unchanged
	}{
		"mid-rollout": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2",
			wantHTTP: `[{route: [{destination: {host: reviews, subset: v2}, weight: 100}]}]`},
		"idle route renamed to canary": {file: "virtual-service-ratings-test-abort.yaml", stable: "v1", canary: "v2",
			wantHTTP: `[{match: [{headers: {end-user: {exact: jason}}}], fault: {abort: {percent: 100, httpStatus: 500}}, route: [{destination: {host: ratings, subset: v2}}]},
			            {route: [{destination: {host: ratings, subset: v2}}]}]`},
		"mirror to canary removed": {inline: mirrorVS, stable: "v1", canary: "v2",
			wantHTTP: `[{name: main, timeout: 3s, retries: {attempts: 3, perTryTimeout: 1s},
			             route: [{destination: {host: reviews, subset: v2, port: {number: 9080}}, weight: 100}],
			             mirrors: [{destination: {host: shadow}}]}]`},
		"already promoted":     {file: "virtual-service-reviews-jason-v2-v3.yaml", stable: "v1", canary: "v3"},
		"nothing to promote":   {file: "virtual-service-reviews-jason-v2-v3.yaml", stable: "v1", canary: "v4", errHas: "no managed route"},
		"canary equals stable": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v1", errHas: "distinct"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, tc.inline, "")
			tg := reviewsOrRatings(o)
			patch, changed, err := Promote(o.vs, tg, tc.stable, tc.canary)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("want error containing %q, got %v", tc.errHas, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Promote: %v", err)
			}
			if tc.wantHTTP == "" {
				if changed || patch != nil {
					t.Fatalf("want no change, got %s", patch)
				}
				return
			}
			after, err := applyPatch(o.raw, patch)
			if err != nil {
				t.Fatalf("applying %s: %v", patch, err)
			}
			assertHTTP(t, after, tc.wantHTTP)
			assertOthersIdentical(t, o.raw, after, patch)
			if _, ch, err := Promote(decodeVS(t, after), tg, tc.stable, tc.canary); err != nil || ch {
				t.Errorf("promote again: changed=%t err=%v", ch, err)
			}
			if got, err := ServingSubset(decodeVS(t, after), tg); err != nil || got != tc.canary {
				t.Errorf("serving subset after promote = %q, %v; want %q", got, err, tc.canary)
			}
		})
	}
}

func TestRolloutSequence(t *testing.T) {
	o := loadVS(t, "virtual-service-all-v1.yaml", "", "reviews")
	doc := o.raw
	step := func(name string, patch []byte, changed bool, err error) {
		t.Helper()
		if err != nil || !changed {
			t.Fatalf("%s: changed=%t err=%v", name, changed, err)
		}
		if doc, err = applyPatch(doc, patch); err != nil {
			t.Fatalf("%s: applying: %v", name, err)
		}
	}
	for _, w := range []int32{5, 25, 50, 100} {
		p, ch, err := SetWeight(decodeVS(t, doc), reviews, "v1", "v2", w)
		step("weight", p, ch, err)
		infos, err := Inspect(decodeVS(t, doc), reviews, "v1", "v2")
		if err != nil || len(infos) != 1 || infos[0].Kind != Managed || infos[0].CanaryWeight != w || infos[0].StableWeight != 100-w {
			t.Fatalf("after %d: %+v %v", w, infos, err)
		}
	}
	p, ch, err := Promote(decodeVS(t, doc), reviews, "v1", "v2")
	step("promote", p, ch, err)
	assertHTTP(t, doc, `[{route: [{destination: {host: reviews, subset: v2}, weight: 100}]}]`)
}

func TestSetWeightErrors(t *testing.T) {
	tests := map[string]struct {
		file           string
		stable, canary string
		w              int32
		errHas         string
		noManaged      bool
	}{
		"weight above 100": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2", w: 101, errHas: "outside 0..100"},
		"negative weight":  {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v2", w: -1, errHas: "outside 0..100"},
		"no canary":        {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "", w: 5, errHas: "no canary subset"},
		"no stable":        {file: "virtual-service-reviews-90-10.yaml", stable: "", canary: "v2", w: 5, errHas: "no stable subset"},
		"stable not routed": {file: "virtual-service-reviews-jason-v2-v3.yaml", stable: "v1", canary: "v4", w: 5,
			errHas: "no managed route", noManaged: true},
		"split across three subsets": {file: "virtual-service-reviews-90-10.yaml", stable: "v1", canary: "v3", w: 5,
			errHas: "no managed route", noManaged: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, "", "")
			patch, changed, err := SetWeight(o.vs, reviews, tc.stable, tc.canary, tc.w)
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("want error containing %q, got %v", tc.errHas, err)
			}
			if patch != nil || changed {
				t.Errorf("error with a patch: %s", patch)
			}
			if errors.Is(err, ErrNoManagedRoute) != tc.noManaged {
				t.Errorf("errors.Is(ErrNoManagedRoute) = %t, want %t", !tc.noManaged, tc.noManaged)
			}
		})
	}
}

// TestTwoVirtualServices shifts a Service routed by two VirtualServices, as discovery
// (RoutesTo) finds them, and leaves the VirtualServices of other hosts alone.
func TestTwoVirtualServices(t *testing.T) {
	objs := parseDocs(t, readFixture(t, "virtual-service-all-v1.yaml"))
	objs = append(objs, parseDocs(t, []byte(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-edge}
spec:
  hosts: [reviews.example.com]
  gateways: [edge]
  http:
  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
`))...)
	var found []string
	for _, o := range objs {
		if !RoutesTo(o.vs, reviews) {
			if _, _, err := SetWeight(o.vs, reviews, "v1", "v2", 5); !errors.Is(err, ErrNoManagedRoute) {
				t.Errorf("%s: SetWeight on a VirtualService not routing to reviews: %v", o.vs.Name, err)
			}
			continue
		}
		found = append(found, o.vs.Name)
		patch, changed, err := SetWeight(o.vs, reviews, "v1", "v2", 5)
		if err != nil || !changed {
			t.Fatalf("%s: changed=%t err=%v", o.vs.Name, changed, err)
		}
		after, err := applyPatch(o.raw, patch)
		if err != nil {
			t.Fatalf("%s: %v", o.vs.Name, err)
		}
		infos, err := Inspect(decodeVS(t, after), reviews, "v1", "v2")
		if err != nil || len(infos) != 1 || infos[0].CanaryWeight != 5 || infos[0].StableWeight != 95 {
			t.Errorf("%s after patch: %+v %v", o.vs.Name, infos, err)
		}
		assertOthersIdentical(t, o.raw, after, patch)
	}
	if strings.Join(found, ",") != "reviews,reviews-edge" {
		t.Errorf("VirtualServices routing to reviews = %v", found)
	}
}
