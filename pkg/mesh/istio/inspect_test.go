package istio

import (
	"reflect"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	productpage := Target{Name: "productpage", Namespace: testNS}
	ratings := Target{Name: "ratings", Namespace: testNS}
	tests := map[string]struct {
		file, inline, name string
		target             Target
		stable, canary     string
		want               []RouteInfo
	}{
		"all-v1 idle": {file: "virtual-service-all-v1.yaml", name: "reviews", target: reviews, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Managed, StableWeight: 100}}},
		"all-v1 other host's VirtualService lists nothing": {file: "virtual-service-all-v1.yaml", name: "details", target: reviews, stable: "v1", canary: "v2"},
		"90-10 mid-rollout": {file: "virtual-service-reviews-90-10.yaml", target: reviews, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Managed, StableWeight: 90, CanaryWeight: 10, HasCanary: true}}},
		"90-10 without a canary is mixed": {file: "virtual-service-reviews-90-10.yaml", target: reviews, stable: "v1",
			want: []RouteInfo{{Index: 0, Kind: Mixed, StableWeight: 90, Reason: "splits reviews across subsets v1 and v2"}}},
		"canary equal to stable means none": {file: "virtual-service-all-v1.yaml", name: "reviews", target: reviews, stable: "v1", canary: "v1",
			want: []RouteInfo{{Index: 0, Kind: Managed, StableWeight: 100}}},
		"jason route pinned": {file: "virtual-service-reviews-jason-v2-v3.yaml", target: reviews, stable: "v3", canary: "v1",
			want: []RouteInfo{
				{Index: 0, Kind: Pinned, Reason: `sends reviews only to subset(s) v2, not stable "v3"`},
				{Index: 1, Kind: Managed, StableWeight: 100},
			}},
		"jason route pinned to the canary": {file: "virtual-service-reviews-jason-v2-v3.yaml", target: reviews, stable: "v3", canary: "v2",
			want: []RouteInfo{
				{Index: 0, Kind: Pinned, CanaryWeight: 100, HasCanary: true, Reason: `sends reviews only to subset(s) v2, not stable "v3"`},
				{Index: 1, Kind: Managed, StableWeight: 100},
			}},
		"ratings with fault injection": {file: "virtual-service-ratings-test-abort.yaml", target: ratings, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Managed, StableWeight: 100}, {Index: 1, Kind: Managed, StableWeight: 100}}},
		"gateway route without subset": {file: "bookinfo-gateway.yaml", target: productpage, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Bypass, Reason: "sends to productpage without a subset"}}},
		"mirror to canary": {inline: mirrorVS, target: reviews, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Name: "main", Kind: Managed, StableWeight: 90, CanaryWeight: 10, HasCanary: true, MirrorsCanary: true}}},
		"split with another host": {inline: `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 60}
    - {destination: {host: legacy-reviews}, weight: 40}
`, target: reviews, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Mixed, StableWeight: 60, Reason: "also sends to other hosts: legacy-reviews"}}},
		"weight-0 destinations are absent": {inline: `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 100}
    - {destination: {host: reviews, subset: v3}, weight: 0}
    - {destination: {host: legacy-reviews}, weight: 0}
    - {destination: {host: reviews, subset: v2}, weight: 0}
`, target: reviews, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Managed, StableWeight: 100, HasCanary: true}}},
		"duplicate stable": {inline: `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - route:
    - {destination: {host: reviews, subset: v1, port: {number: 1}}, weight: 50}
    - {destination: {host: reviews.default.svc, subset: v1, port: {number: 2}}, weight: 50}
`, target: reviews, stable: "v1", canary: "v2",
			want: []RouteInfo{{Index: 0, Kind: Mixed, StableWeight: 50, Reason: "subset v1 appears more than once"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, tc.inline, tc.name)
			got, err := Inspect(o.vs, tc.target, tc.stable, tc.canary)
			if err != nil {
				t.Fatalf("Inspect: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Inspect:\n got  %+v\n want %+v", got, tc.want)
			}
			if RoutesTo(o.vs, tc.target) != (len(tc.want) > 0) {
				t.Errorf("RoutesTo = %t with %d routes listed", !(len(tc.want) > 0), len(tc.want))
			}
		})
	}
}

func TestInspectRejectsInvalidWeights(t *testing.T) {
	tests := map[string]struct {
		routes string
		errHas []string
	}{
		"negative":        {`[{destination: {host: reviews, subset: v1}, weight: 110}, {destination: {host: reviews, subset: v2}, weight: -10}]`, []string{"http route 1", "weight 110 outside 0..100"}},
		"negative alone":  {`[{destination: {host: reviews, subset: v1}, weight: -5}]`, []string{"http route 1", "weight -5"}},
		"sum 99":          {`[{destination: {host: reviews, subset: v1}, weight: 90}, {destination: {host: reviews, subset: v2}, weight: 9}]`, []string{"http route 1", "[90 9] sum to 99"}},
		"all zero":        {`[{destination: {host: reviews, subset: v1}, weight: 0}, {destination: {host: reviews, subset: v2}, weight: 0}]`, []string{"http route 1", "[0 0] are all zero"}},
		"empty host":      {`[{destination: {host: reviews, subset: v1}, weight: 90}, {destination: {host: "", subset: v2}, weight: 10}]`, []string{"http route 1", "destination 1 has an empty host"}},
		"no destination":  {`[{destination: {host: reviews, subset: v1}, weight: 90}, {weight: 10}]`, []string{"http route 1", "destination 1 has an empty host"}},
		"lone weight 50":  {`[{destination: {host: reviews, subset: v1}, weight: 50}]`, []string{"http route 1", "[50] sum to 50"}},
		"above 100 alone": {`[{destination: {host: reviews, subset: v1}, weight: 200}]`, []string{"weight 200"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inline := `
kind: VirtualService
metadata: {name: broken, namespace: shop}
spec:
  http:
  - route: [{destination: {host: ratings, subset: v1}, weight: 7}]
  - name: default
    route: ` + tc.routes + "\n"
			o := loadVS(t, "", inline, "broken")
			tg := Target{Name: "reviews", Namespace: "shop"}
			checks := map[string]error{}
			_, checks["Inspect"] = Inspect(o.vs, tg, "v1", "v2")
			_, _, checks["SetWeight"] = SetWeight(o.vs, tg, "v1", "v2", 5)
			_, _, checks["Promote"] = Promote(o.vs, tg, "v1", "v2")
			_, checks["ServingSubset"] = ServingSubset(o.vs, tg)
			for fn, err := range checks {
				if err == nil {
					t.Errorf("%s accepted %s", fn, tc.routes)
					continue
				}
				for _, s := range append([]string{"shop/broken", `"default"`}, tc.errHas...) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("%s error %q does not contain %q", fn, err, s)
					}
				}
			}
		})
	}
}

// TestInspectIgnoresOtherHostsBrokenRoutes: route 0 (to ratings, invalid weight 7) is
// not the target's business.
func TestInspectIgnoresOtherHostsBrokenRoutes(t *testing.T) {
	o := loadVS(t, "", `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - route: [{destination: {host: ratings, subset: v1}, weight: 7}, {destination: {host: ratings, subset: v2}, weight: 7}]
  - route: [{destination: {host: reviews, subset: v1}}]
`, "x")
	got, err := Inspect(o.vs, reviews, "v1", "v2")
	if err != nil || len(got) != 1 || got[0].Index != 1 || got[0].Kind != Managed {
		t.Fatalf("Inspect = %+v, %v", got, err)
	}
	if _, err := Inspect(o.vs, Target{Name: "ratings", Namespace: testNS}, "v1", "v2"); err == nil {
		t.Error("invalid ratings route accepted when ratings is the target")
	}
}
