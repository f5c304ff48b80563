package standin

import (
	"encoding/json"
	"fmt"
	"strings"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// VirtualServiceGVR is the resource the fleet watches: networking.istio.io/v1 virtualservices.
var VirtualServiceGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}

// WeightsFromJSON decodes a VirtualService (JSON, as the API server serves it) and
// returns the weights of its default route to service.namespace (see DefaultRouteWeights).
func WeightsFromJSON(data []byte, namespace, service string) (map[string]int32, error) {
	var vs networkingv1.VirtualService
	if err := json.Unmarshal(data, &vs); err != nil {
		return nil, fmt.Errorf("decoding VirtualService: %w", err)
	}
	return DefaultRouteWeights(&vs, namespace, service), nil
}

// weightsFromUnstructured is WeightsFromJSON for an object from the dynamic client.
func weightsFromUnstructured(u *unstructured.Unstructured, namespace, service string) (map[string]int32, error) {
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding VirtualService %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return WeightsFromJSON(data, namespace, service)
}

// DefaultRouteWeights returns subset → weight for the default route of vs towards the
// Service's host: the last http route without a match that has a destination to the
// host. A lone destination without weight gets 100; destinations to other hosts are
// ignored; negative weights count as 0; a subset named twice gets the sum. The result
// is empty (not nil) when no such route exists. A destination without a subset is
// reported under the subset "".
func DefaultRouteWeights(vs *networkingv1.VirtualService, namespace, service string) map[string]int32 {
	weights := map[string]int32{}
	routes := vs.Spec.GetHttp()
	for i := len(routes) - 1; i >= 0; i-- {
		r := routes[i]
		if len(r.GetMatch()) > 0 {
			continue
		}
		var mine []int
		for j, d := range r.GetRoute() {
			if sameHost(d.GetDestination().GetHost(), namespace, service) {
				mine = append(mine, j)
			}
		}
		if len(mine) == 0 {
			continue
		}
		dests := r.GetRoute()
		for _, j := range mine {
			d := dests[j]
			w := d.GetWeight()
			if w == 0 && len(dests) == 1 {
				w = 100
			}
			if w < 0 {
				w = 0
			}
			weights[d.GetDestination().GetSubset()] += w
		}
		return weights
	}
	return weights
}

// sameHost reports whether host names service in namespace: short name, name.ns,
// name.ns.svc or the full name.ns.svc.cluster.local.
func sameHost(host, namespace, service string) bool {
	host = strings.TrimSuffix(host, ".")
	switch host {
	case service, service + "." + namespace, service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local":
		return true
	}
	return false
}
