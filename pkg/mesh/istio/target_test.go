package istio

import (
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
