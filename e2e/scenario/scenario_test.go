package scenario

import (
	"fmt"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
)

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		doc      string
		wantType string // %T of the object; "" = an error
		wantName string
	}{
		"DestinationRule": {doc: DestinationRule, wantType: "*v1.DestinationRule", wantName: "reviews"},
		"VirtualService":  {doc: VirtualService, wantType: "*v1.VirtualService", wantName: "reviews"},
		"Gateway (v1alpha3 sample)": {doc: "apiVersion: networking.istio.io/v1alpha3\nkind: Gateway\nmetadata: {name: gw}\nspec: {selector: {istio: ingressgateway}}\n",
			wantType: "*v1.Gateway", wantName: "gw"},
		"unsupported kind": {doc: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"},
		"malformed":        {doc: "kind: [VirtualService\n"},
		"wrong field type": {doc: "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}\nspec: {hosts: 7}\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			obj, err := decode(tc.doc)
			if tc.wantType == "" {
				if err == nil {
					t.Fatalf("decoded %T, want an error", obj)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", obj); got != tc.wantType || obj.GetName() != tc.wantName {
				t.Fatalf("decoded %s %q, want %s %q", got, obj.GetName(), tc.wantType, tc.wantName)
			}
		})
	}
}

// Routing is the two objects, each a document create splits off.
func TestRoutingDocuments(t *testing.T) {
	docs := strings.Split(Routing, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("Routing has %d documents, want 2", len(docs))
	}
	obj, err := decode(docs[1])
	if err != nil {
		t.Fatal(err)
	}
	vs, ok := obj.(*networkingv1.VirtualService)
	if !ok || len(vs.Spec.GetHttp()) != 1 || vs.Spec.GetHttp()[0].GetRoute()[0].GetDestination().GetSubset() != "v1" {
		t.Fatalf("second document: %#v", obj)
	}
}
