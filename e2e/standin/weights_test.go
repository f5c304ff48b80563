package standin

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const istioFixtures = "../../testdata/istio"

// fixtureDocs returns the JSON of each YAML document of a fixture, by metadata.name
// and kind.
func fixtureDocs(t testing.TB, file string) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(istioFixtures, file))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		var meta struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if err := yaml.Unmarshal(j, &meta); err != nil {
			t.Fatal(err)
		}
		out[meta.Kind+"/"+meta.Metadata.Name] = j
	}
	return out
}

func inlineVS(t testing.TB, http string) []byte {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: reviews\n  namespace: default\nspec:\n  hosts: [reviews]\n  http:\n" + http))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestDefaultRouteWeights(t *testing.T) {
	tests := map[string]struct {
		vs      []byte
		service string
		want    map[string]int32
	}{
		"90/10 pair": {
			vs: fixtureDocs(t, "virtual-service-reviews-90-10.yaml")["VirtualService/reviews"], service: "reviews",
			want: map[string]int32{"v1": 90, "v2": 10},
		},
		"lone destination without weight is 100": {
			vs: fixtureDocs(t, "virtual-service-all-v1.yaml")["VirtualService/reviews"], service: "reviews",
			want: map[string]int32{"v1": 100},
		},
		"a VirtualService for another host": {
			vs: fixtureDocs(t, "virtual-service-all-v1.yaml")["VirtualService/productpage"], service: "reviews",
			want: map[string]int32{},
		},
		"header-matched route skipped, default route followed": {
			vs: fixtureDocs(t, "virtual-service-reviews-jason-v2-v3.yaml")["VirtualService/reviews"], service: "reviews",
			want: map[string]int32{"v3": 100},
		},
		"fault-injected matched route skipped": {
			vs: fixtureDocs(t, "virtual-service-ratings-test-abort.yaml")["VirtualService/ratings"], service: "ratings",
			want: map[string]int32{"v1": 100},
		},
		"gateway route with match only: no default route": {
			vs: fixtureDocs(t, "bookinfo-gateway.yaml")["VirtualService/bookinfo"], service: "productpage",
			want: map[string]int32{},
		},
		"full host name, weight 0 kept as 0": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews.default.svc.cluster.local, subset: v1}
      weight: 0
    - destination: {host: reviews.default.svc.cluster.local, subset: v2}
      weight: 100
`), service: "reviews",
			want: map[string]int32{"v1": 0, "v2": 100},
		},
		"host in another namespace is not ours": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews.other.svc.cluster.local, subset: v1}
`), service: "reviews",
			want: map[string]int32{},
		},
		"last default route wins": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews, subset: v1}
  - route:
    - destination: {host: reviews.default, subset: v1}
      weight: 75
    - destination: {host: reviews.default.svc, subset: v2}
      weight: 25
`), service: "reviews",
			want: map[string]int32{"v1": 75, "v2": 25},
		},
		"default route to another host after ours": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: ratings, subset: v1}
`), service: "reviews",
			want: map[string]int32{"v2": 100},
		},
		"mixed hosts: only ours, weight absent is 0 when not alone": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews, subset: v1}
      weight: 60
    - destination: {host: ratings, subset: v1}
      weight: 40
    - destination: {host: reviews, subset: v2}
`), service: "reviews",
			want: map[string]int32{"v1": 60, "v2": 0},
		},
		"negative weight counts as 0, repeated subset sums": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews, subset: v1}
      weight: -10
    - destination: {host: reviews, subset: v2}
      weight: 50
    - destination: {host: reviews, subset: v2}
      weight: 60
`), service: "reviews",
			want: map[string]int32{"v1": 0, "v2": 110},
		},
		"no subset": {
			vs: inlineVS(t, `  - route:
    - destination: {host: reviews}
`), service: "reviews",
			want: map[string]int32{"": 100},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := WeightsFromJSON(tc.vs, "default", tc.service)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("weights %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWeightsFromJSONRejectsGarbage(t *testing.T) {
	tests := map[string]string{
		"not JSON":            "{",
		"weight not a number": `{"spec":{"http":[{"route":[{"destination":{"host":"reviews"},"weight":"x"}]}]}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if w, err := WeightsFromJSON([]byte(in), "default", "reviews"); err == nil {
				t.Errorf("got %v and no error", w)
			}
		})
	}
}

func FuzzWeightsFromJSON(f *testing.F) {
	for _, file := range []string{"virtual-service-reviews-90-10.yaml", "virtual-service-all-v1.yaml",
		"virtual-service-reviews-jason-v2-v3.yaml", "virtual-service-ratings-test-abort.yaml", "bookinfo-gateway.yaml"} {
		for _, doc := range fixtureDocs(f, file) {
			f.Add(doc)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := WeightsFromJSON(data, "default", "reviews")
		if err != nil {
			return
		}
		for s, v := range w {
			if v < 0 {
				t.Errorf("subset %q has negative weight %d", s, v)
			}
		}
	})
}
