package istio

import (
	"strings"
	"testing"
)

func TestSurveyRoutes(t *testing.T) {
	productpage := Target{Name: "productpage", Namespace: testNS}
	tests := map[string]struct {
		file, inline, name string
		target             Target
		// discovered: RoutesTo; managed: Survey.Managed; unmanaged: fragments of Unmanaged().
		discovered, managed bool
		unmanaged           []string
	}{
		"Istio's bookinfo gateway: routes without a subset": {
			file: "bookinfo-gateway.yaml", name: "bookinfo", target: productpage,
			discovered: true, unmanaged: []string{"http[0]", "without a subset"},
		},
		"in-mesh route to the serving subset": {
			file: "virtual-service-all-v1.yaml", name: "productpage", target: productpage,
			discovered: true, managed: true,
		},
		"tcp only": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pp-tcp}\nspec:\n  hosts: [productpage]\n  tcp:\n  - route:\n    - destination: {host: productpage, subset: v1}\n",
			name:   "pp-tcp", target: productpage, discovered: true, unmanaged: []string{"tcp[0]: tcp route"},
		},
		"tls only": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pp-tls}\nspec:\n  hosts: [productpage.example.com]\n  tls:\n  - match: [{sniHosts: [productpage.example.com]}]\n    route:\n    - destination: {host: productpage.default.svc.cluster.local, subset: v1}\n",
			name:   "pp-tls", target: productpage, discovered: true, unmanaged: []string{"tls[0]: tls route"},
		},
		"delegate root for the host": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pp-root}\nspec:\n  hosts: [productpage]\n  http:\n  - match: [{uri: {prefix: /}}]\n    delegate: {name: pp-child, namespace: team}\n",
			name:   "pp-root", target: productpage, discovered: true, unmanaged: []string{"http[0]", "delegates productpage to VirtualService team/pp-child"},
		},
		"delegate root for another host": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: other-root}\nspec:\n  hosts: [ratings]\n  http:\n  - delegate: {name: ratings-child}\n",
			name:   "other-root", target: productpage, discovered: false, unmanaged: []string{"no route to the host"},
		},
		"pinned to another subset": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pp-pin}\nspec:\n  hosts: [productpage]\n  http:\n  - name: testers\n    route:\n    - destination: {host: productpage, subset: v3}\n",
			name:   "pp-pin", target: productpage, discovered: true, unmanaged: []string{`http[0] ("testers")`, "only to subset(s) v3"},
		},
		"malformed weights": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pp-bad}\nspec:\n  hosts: [productpage]\n  http:\n  - route:\n    - {destination: {host: productpage, subset: v1}, weight: 50}\n    - {destination: {host: productpage, subset: v2}, weight: 40}\n",
			name:   "pp-bad", target: productpage, discovered: true, unmanaged: []string{"malformed", "sum to 90"},
		},
		"managed and tcp side by side": {
			inline: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: pp-both}\nspec:\n  hosts: [productpage]\n  http:\n  - route:\n    - destination: {host: productpage, subset: v1}\n  tcp:\n  - route:\n    - destination: {host: productpage, subset: v1}\n",
			name:   "pp-both", target: productpage, discovered: true, managed: true, unmanaged: []string{"tcp[0]"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vs := loadVS(t, tc.file, tc.inline, tc.name).vs
			if got := RoutesTo(vs, tc.target); got != tc.discovered {
				t.Fatalf("RoutesTo = %v, want %v", got, tc.discovered)
			}
			s := SurveyRoutes(vs, tc.target, "v1", "v2")
			if s.Managed() != tc.managed {
				t.Fatalf("Managed = %v, want %v (%+v)", s.Managed(), tc.managed, s)
			}
			for _, frag := range tc.unmanaged {
				if !strings.Contains(s.Unmanaged(), frag) {
					t.Errorf("Unmanaged() = %q, want it to contain %q", s.Unmanaged(), frag)
				}
			}
			if tc.managed {
				return
			}
			// A write refuses the VirtualService and says which kind of route it found.
			_, _, err := SetWeight(vs, tc.target, "v1", "v2", 0)
			if err == nil {
				t.Fatal("SetWeight wrote a VirtualService without a managed route")
			}
			for _, frag := range tc.unmanaged {
				if frag != "malformed" && !strings.Contains(err.Error(), frag) {
					t.Errorf("SetWeight's error %q lacks %q", err, frag)
				}
			}
		})
	}
}
