package vswatch

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/yaml"
)

func event(t *testing.T, typ watch.EventType, doc string) Event {
	t.Helper()
	raw, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return Event{At: time.Unix(0, 0), Type: typ, Object: raw}
}

func TestInvariantsCheck(t *testing.T) {
	inv := Invariants{Namespace: "shop", Service: "reviews", Stable: "v1", Canary: "v2", Schedule: []int32{5, 25, 50, 100}}
	const head = "metadata: {name: reviews, resourceVersion: \"7\"}\nspec:\n  hosts: [reviews]\n  http:\n"
	tests := map[string]struct {
		typ  watch.EventType
		http string
		want []string // substrings, one per expected violation; none = valid
	}{
		"stable alone, no weight": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n"},
		"split at a step": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 75\n" +
			"    - destination: {host: reviews.shop.svc.cluster.local, subset: v2}\n      weight: 25\n"},
		"canary at 0 beside stable": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 100\n" +
			"    - destination: {host: reviews, subset: v2}\n      weight: 0\n"},
		"promoted: canary alone":      {http: "  - route:\n    - destination: {host: reviews, subset: v2}\n"},
		"other hosts are not checked": {http: "  - route:\n    - destination: {host: ratings, subset: v9}\n      weight: 30\n"},
		"sum not 100": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 70\n" +
			"    - destination: {host: reviews, subset: v2}\n      weight: 25\n", want: []string{"sum to 95"}},
		"canary weight off the schedule": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 70\n" +
			"    - destination: {host: reviews, subset: v2}\n      weight: 30\n", want: []string{"weight 30, not 0 nor a weight of the schedule"}},
		"both subsets missing": {http: "  - route:\n    - destination: {host: reviews, subset: v3}\n", want: []string{`neither the stable "v1" nor the canary "v2"`}},
		"all zero": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 0\n" +
			"    - destination: {host: reviews, subset: v2}\n      weight: 0\n", want: []string{"sum to 0"}},
		"negative weight": {http: "  - route:\n    - destination: {host: reviews, subset: v1}\n      weight: 105\n" +
			"    - destination: {host: reviews, subset: v2}\n      weight: -5\n", want: []string{"weight -5", "weight 105", "weight -5, not 0"}},
		"second route checked too": {http: "  - match: [{headers: {x-test: {exact: \"1\"}}}]\n    route:\n    - destination: {host: reviews, subset: v1}\n      weight: 50\n" +
			"  - route:\n    - destination: {host: reviews, subset: v1}\n", want: []string{"http route 0: weights sum to 50"}},
		"deleted events are skipped": {typ: watch.Deleted, http: "  - route:\n    - destination: {host: reviews, subset: v3}\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			typ := tc.typ
			if typ == "" {
				typ = watch.Modified
			}
			got := inv.Check([]Event{event(t, typ, head+tc.http)})
			if len(got) != len(tc.want) {
				t.Fatalf("violations %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Fatalf("violations %q lack %q", got, w)
				}
			}
			for _, g := range got {
				if !strings.Contains(g, "event 0 (MODIFIED") || !strings.Contains(g, "resourceVersion 7") {
					t.Fatalf("violation %q does not name the event", g)
				}
			}
		})
	}
	if got := inv.Check([]Event{{Type: watch.Added, Object: []byte("{")}}); len(got) != 1 || !strings.Contains(got[0], "undecodable") {
		t.Fatalf("undecodable object: %q", got)
	}
}
