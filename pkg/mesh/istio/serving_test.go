package istio

import (
	"fmt"
	"strings"
	"testing"
)

func TestServingSubset(t *testing.T) {
	tests := map[string]struct {
		file, inline, name string
		target             Target
		want, errHas       string
	}{
		"all-v1 idle":   {file: "virtual-service-all-v1.yaml", name: "reviews", target: reviews, want: "v1"},
		"90-10 split":   {file: "virtual-service-reviews-90-10.yaml", target: reviews, errHas: "splits traffic across subsets v1, v2"},
		"jason pinned":  {file: "virtual-service-reviews-jason-v2-v3.yaml", target: reviews, want: "v3"},
		"fault route":   {file: "virtual-service-ratings-test-abort.yaml", target: Target{Name: "ratings", Namespace: testNS}, want: "v1"},
		"gateway":       {file: "bookinfo-gateway.yaml", target: Target{Name: "productpage", Namespace: testNS}, errHas: "no http route sends to a subset"},
		"not routed":    {file: "virtual-service-all-v1.yaml", name: "details", target: reviews, errHas: "no http route sends to a subset"},
		"matched agree": {inline: matchedOnly("v1", "v1"), target: reviews, want: "v1"},
		"matched disagree": {inline: matchedOnly("v1", "v2"), target: reviews,
			errHas: "routes with matches send to different subsets (v1, v2)"},
		"weight-0 canary ignored": {inline: `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 100}
    - {destination: {host: reviews, subset: v2}, weight: 0}
`, target: reviews, want: "v1"},
		"default route without subset, matched route decides": {inline: `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route: [{destination: {host: reviews}}]
`, target: reviews, want: "v2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, tc.inline, tc.name)
			got, err := ServingSubset(o.vs, tc.target)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("want error containing %q, got %q, %v", tc.errHas, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ServingSubset = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestServingSubsetBeside(t *testing.T) {
	split := func(a, b string, wa, wb int) string {
		return fmt.Sprintf(`
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - route:
    - {destination: {host: reviews, subset: %s}, weight: %d}
    - {destination: {host: reviews, subset: %s}, weight: %d}
`, a, wa, b, wb)
	}
	tests := map[string]struct {
		file, inline, name, canary string
		want, errHas               string
	}{
		"split with the canary: the other subset":  {inline: split("v1", "v2", 75, 25), canary: "v2", want: "v1"},
		"canary first in the route":                {inline: split("v2", "v1", 50, 50), canary: "v2", want: "v1"},
		"90-10 sample split":                       {file: "virtual-service-reviews-90-10.yaml", canary: "v2", want: "v1"},
		"split between two others":                 {inline: split("v1", "v3", 75, 25), canary: "v2", errHas: "splits traffic across subsets v1, v3"},
		"no canary: as ServingSubset":              {inline: split("v1", "v2", 75, 25), errHas: "splits traffic across subsets v1, v2"},
		"idle route: the serving subset":           {file: "virtual-service-all-v1.yaml", name: "reviews", canary: "v2", want: "v1"},
		"canary alone is not a split: it serves":   {inline: split("v2", "v1", 100, 0), canary: "v2", want: "v2"},
		"three subsets, one the canary: ambiguous": {inline: split("v1", "v2", 75, 25) + "    - {destination: {host: reviews, subset: v3}, weight: 0}\n", canary: "v3", errHas: "splits traffic"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, tc.inline, tc.name)
			got, err := ServingSubsetBeside(o.vs, reviews, tc.canary)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("want error containing %q, got %q, %v", tc.errHas, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ServingSubsetBeside = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func matchedOnly(a, b string) string {
	return `
kind: VirtualService
metadata: {name: x}
spec:
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: ` + a + `}}]
  - match: [{uri: {prefix: /}}]
    route: [{destination: {host: reviews, subset: ` + b + `}}]
`
}
