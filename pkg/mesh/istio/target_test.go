package istio

import (
	"slices"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

func TestMatchesHost(t *testing.T) {
	tests := map[string]struct {
		host, ns string
		want     bool
	}{
		"short in same namespace":   {"reviews", "default", true},
		"short in other namespace":  {"reviews", "shop", false},
		"name.namespace":            {"reviews.default", "shop", true},
		"name.namespace.svc":        {"reviews.default.svc", "shop", true},
		"fqdn":                      {"reviews.default.svc.cluster.local", "shop", true},
		"fqdn trailing dot, case":   {"Reviews.Default.svc.cluster.local.", "shop", true},
		"other namespace fqdn":      {"reviews.shop.svc.cluster.local", "default", false},
		"other name":                {"ratings", "default", false},
		"name prefix":               {"reviews2", "default", false},
		"other cluster domain":      {"reviews.default.svc.example.org", "default", false},
		"external host":             {"reviews.example.com", "default", false},
		"wildcard":                  {"*.default.svc.cluster.local", "default", false},
		"empty":                     {"", "default", false},
		"svc suffix with extra dot": {"reviews.default.svc.", "default", true},
	}
	tg := Target{Name: "reviews", Namespace: "default"}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tg.MatchesHost(tc.host, tc.ns); got != tc.want {
				t.Errorf("MatchesHost(%q, %q) = %t, want %t", tc.host, tc.ns, got, tc.want)
			}
		})
	}
	if got := tg.FQDN(); got != "reviews.default.svc.cluster.local" {
		t.Errorf("FQDN = %q", got)
	}
}

func TestCheckSubsets(t *testing.T) {
	drs := loadDRs(t, "destination-rule-all.yaml")
	fqdnDR := &networkingv1.DestinationRule{}
	fqdnDR.Name, fqdnDR.Namespace = "reviews-extra", "istio-config"
	fqdnDR.Spec.Host = "reviews.default.svc.cluster.local"
	if err := CheckSubsets(append(drs[:len(drs):len(drs)], fqdnDR), reviews, "v1"); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		drs     []*networkingv1.DestinationRule
		target  Target
		subsets []string
		errHas  []string
	}{
		"reviews stable and canary":  {drs, reviews, []string{"v1", "v3"}, nil},
		"ratings fourth subset":      {drs, Target{Name: "ratings", Namespace: testNS}, []string{"v2-mysql-vm"}, nil},
		"empty subset skipped":       {drs, reviews, []string{"v1", ""}, nil},
		"missing canary":             {drs, reviews, []string{"v1", "v4"}, []string{`"v4"`, "default/reviews", "v1, v2, v3"}},
		"subset of another host":     {drs, Target{Name: "productpage", Namespace: testNS}, []string{"v2"}, []string{`"v2"`, "default/productpage"}},
		"no rule for host":           {drs, Target{Name: "cart", Namespace: testNS}, []string{"v1"}, []string{"no DestinationRule", "cart.default.svc.cluster.local", "default/reviews"}},
		"other namespace short host": {drs, Target{Name: "reviews", Namespace: "shop"}, []string{"v1"}, []string{"no DestinationRule"}},
		"no rules at all":            {nil, reviews, []string{"v1"}, []string{"looked at none"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckSubsets(tc.drs, tc.target, tc.subsets...)
			if tc.errHas == nil {
				if err != nil {
					t.Fatalf("CheckSubsets: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range tc.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// HostTarget names the Target MatchesHost takes a host for, and none for hosts it never
// matches.
func TestHostTarget(t *testing.T) {
	tests := map[string]struct {
		host, ns string
		want     string // Key; "" for none
	}{
		"short":                   {"reviews", "Default", "default/reviews"},
		"name.namespace":          {"reviews.shop", "default", "shop/reviews"},
		"name.namespace.svc":      {"reviews.shop.svc", "default", "shop/reviews"},
		"fqdn trailing dot, case": {"Reviews.Shop.svc.cluster.local.", "default", "shop/reviews"},
		"other cluster domain":    {"reviews.default.svc.example.org", "default", ""},
		"external host":           {"reviews.example.com", "default", ""},
		"wildcard":                {"*.default.svc.cluster.local", "default", ""},
		"empty":                   {"", "default", ""},
		"empty name":              {".default", "default", ""},
		"empty namespace":         {"reviews.", "", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := HostTarget(tc.host, tc.ns)
			if key := got.Key(); ok != (tc.want != "") || (ok && key != tc.want) {
				t.Errorf("HostTarget(%q, %q) = %q, %t; want %q", tc.host, tc.ns, key, ok, tc.want)
			}
		})
	}
}

// FuzzHostTarget: MatchesHost(host, ns) holds for a Target exactly when its Key is the
// Key of the Target HostTarget names (for names and namespaces Kubernetes allows: no '.'
// or '/'), so an index by Key finds what MatchesHost accepts. What MatchesHost accepts is
// TestMatchesHost's.
func FuzzHostTarget(f *testing.F) {
	f.Add("reviews.default.svc.cluster.local", "shop", "reviews", "default")
	f.Add("Reviews", "Default", "reviews", "default")
	f.Add("reviews.default.svc.", "x", "REVIEWS", "default")
	f.Add("*.default", "default", "*", "default")
	f.Fuzz(func(t *testing.T, host, ns, name, namespace string) {
		for _, s := range []string{ns, name, namespace} {
			if strings.ContainsAny(s, "./") {
				return
			}
		}
		tg := Target{Name: name, Namespace: namespace}
		ht, ok := HostTarget(host, ns)
		if got, want := ok && ht.Key() == tg.Key() && tg.Name != "" && tg.Namespace != "", tg.MatchesHost(host, ns); got != want {
			t.Errorf("host %q in %q, target %v: HostTarget %v, %t; MatchesHost %t", host, ns, tg, ht, ok, want)
		}
	})
}

// Targets names exactly the Services RoutesTo is true for.
func TestTargets(t *testing.T) {
	tests := map[string]struct {
		yaml string
		want []string
	}{
		"http, tcp and tls destinations": {yaml: `
metadata: {name: vs, namespace: shop}
spec:
  hosts: [front.example.com]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
    - destination: {host: reviews.shop.svc.cluster.local, subset: v2}
  tcp:
  - route:
    - destination: {host: db.data}
  tls:
  - route:
    - destination: {host: api.example.com}
    - destination: {host: auth.sec.svc}
`, want: []string{"shop/reviews", "data/db", "sec/auth"}},
		"a delegating route: the hosts too": {yaml: `
metadata: {name: vs, namespace: shop}
spec:
  hosts: [reviews, "*.shop.svc.cluster.local"]
  http:
  - delegate: {name: reviews-routes}
  - route:
    - destination: {host: ratings}
`, want: []string{"shop/ratings", "shop/reviews"}},
		"hosts without a delegating route": {yaml: `
metadata: {name: vs, namespace: shop}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: ratings}
`, want: []string{"shop/ratings"}},
		"nothing": {yaml: `
metadata: {name: vs, namespace: shop}
spec: {hosts: [reviews]}
`},
	}
	candidates := []Target{{"reviews", "shop"}, {"ratings", "shop"}, {"db", "data"}, {"auth", "sec"}, {"front", "shop"}, {"api", "shop"}}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vs := mustVS(t, tc.yaml)
			got := Targets(vs)
			if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tc.want))) {
				t.Errorf("Targets = %v, want %v", got, tc.want)
			}
			for _, c := range candidates {
				if RoutesTo(vs, c) != slices.Contains(got, c.Key()) {
					t.Errorf("%v: RoutesTo %t, in Targets %t", c, RoutesTo(vs, c), slices.Contains(got, c.Key()))
				}
			}
		})
	}
}

// mustVS decodes one VirtualService from YAML (kind implied).
func mustVS(t *testing.T, doc string) *networkingv1.VirtualService {
	t.Helper()
	objs := parseDocs(t, []byte("kind: VirtualService\n"+strings.TrimLeft(doc, "\n")))
	if len(objs) != 1 || objs[0].vs == nil {
		t.Fatalf("want one VirtualService in %s", doc)
	}
	return objs[0].vs
}
