package meshlab

import (
	"maps"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicedev/sluice/pkg/envoy"
)

func weightedRoute(name string, weights map[string]uint32) *anypb.Any {
	var wcs []*routev3.WeightedCluster_ClusterWeight
	for _, s := range []string{"v1", "v2", "v3"} {
		if w, ok := weights[s]; ok {
			wcs = append(wcs, &routev3.WeightedCluster_ClusterWeight{Name: "outbound|9080|" + s + "|" + testHost, Weight: wrapperspb.UInt32(w)})
		}
	}
	action := &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: wcs}}}
	if len(wcs) == 1 {
		action = &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: wcs[0].Name}}
	}
	return mustAny(&routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{
		Name: testHost + ":9080", Domains: []string{testHost},
		Routes: []*routev3.Route{{Name: "default", Action: &routev3.Route_Route{Route: action}}},
	}}})
}

func endpoints(subset string, addrs ...string) *anypb.Any {
	var lbs []*endpointv3.LbEndpoint
	for _, a := range addrs {
		lbs = append(lbs, &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: a, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 9080}}}}}}})
	}
	return mustAny(&endpointv3.ClusterLoadAssignment{ClusterName: "outbound|9080|" + subset + "|" + testHost,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: lbs}}})
}

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(err)
	}
	return a
}

// TestRecorderAppliesOnlyACKed feeds the recorder responses and the client's replies and
// checks what the config dump then says and where calls are counted.
func TestRecorderAppliesOnlyACKed(t *testing.T) {
	type step struct {
		resp  *discoveryv3.DiscoveryResponse // sent to the client, or nil
		reply *discoveryv3.DiscoveryRequest  // the client's next request, or nil
	}
	resp := func(nonce, typeURL string, res ...*anypb.Any) *discoveryv3.DiscoveryResponse {
		return &discoveryv3.DiscoveryResponse{Nonce: nonce, TypeUrl: typeURL, VersionInfo: "v-" + nonce, Resources: res}
	}
	ack := func(nonce string) *discoveryv3.DiscoveryRequest {
		return &discoveryv3.DiscoveryRequest{ResponseNonce: nonce, VersionInfo: "v-" + nonce}
	}
	nack := func(nonce string) *discoveryv3.DiscoveryRequest {
		return &discoveryv3.DiscoveryRequest{ResponseNonce: nonce, ErrorDetail: &statuspb.Status{Message: "bad"}}
	}
	eds := []step{
		{resp("e1", typeEndpoint, endpoints("v1", "127.0.200.10"), endpoints("v2", "127.0.200.12")), ack("e1")},
	}
	tests := map[string]struct {
		steps       []step
		wantWeights map[string]uint32
		wantCluster map[string]string // backend address → cluster
	}{
		"acked split": {
			steps:       append([]step{{resp("r1", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 90, "v2": 10})), ack("r1")}}, eds...),
			wantWeights: map[string]uint32{"v1": 90, "v2": 10},
			wantCluster: map[string]string{"127.0.200.10:9080": "outbound|9080|v1|" + testHost, "127.0.200.12:9080": "outbound|9080|v2|" + testHost, "127.0.200.99:9080": Unresolved},
		},
		"unacked update is not applied": {
			steps: append([]step{
				{resp("r1", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 90, "v2": 10})), ack("r1")},
				{resp("r2", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 100})), nil},
			}, eds...),
			wantWeights: map[string]uint32{"v1": 90, "v2": 10},
			wantCluster: map[string]string{"127.0.200.12:9080": "outbound|9080|v2|" + testHost},
		},
		"nacked update is dropped, later ack applies": {
			steps: append([]step{
				{resp("r1", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 90, "v2": 10})), ack("r1")},
				{resp("r2", typeRoute, weightedRoute("rc", map[string]uint32{"v2": 100})), nack("r2")},
				{resp("r3", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 100})), ack("r3")},
			}, eds...),
			wantWeights: map[string]uint32{"v1": 100},
			// v2 is no longer routed, but a call started before the change still ended there.
			wantCluster: map[string]string{"127.0.200.10:9080": "outbound|9080|v1|" + testHost, "127.0.200.12:9080": "outbound|9080|v2|" + testHost},
		},
		"subset cluster before the subset-less one": {
			steps: []step{
				{resp("r1", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 100})), ack("r1")},
				{resp("e1", typeEndpoint, endpoints("", "127.0.200.10", "127.0.200.12"), endpoints("v1", "127.0.200.10")), ack("e1")},
			},
			wantWeights: map[string]uint32{"v1": 100},
			wantCluster: map[string]string{"127.0.200.10:9080": "outbound|9080|v1|" + testHost, "127.0.200.12:9080": "outbound|9080||" + testHost},
		},
		"nothing acked": {
			steps:       []step{{resp("r1", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 50, "v2": 50})), nil}},
			wantCluster: map[string]string{"127.0.200.10:9080": Unresolved},
		},
		"endpoints in use before their ack": {
			steps: []step{
				{resp("r1", typeRoute, weightedRoute("rc", map[string]uint32{"v1": 100})), ack("r1")},
				{resp("e1", typeEndpoint, endpoints("v1", "127.0.200.10")), nil},
			},
			wantWeights: map[string]uint32{"v1": 100},
			wantCluster: map[string]string{"127.0.200.10:9080": "outbound|9080|v1|" + testHost, "127.0.200.11:9080": Unresolved},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &xdsRecorder{pending: map[string]pendingResponse{}, applied: map[string]map[string]appliedResource{},
				received: map[string]map[string]appliedResource{}, changed: make(chan struct{})}
			for _, s := range tc.steps {
				if s.resp != nil {
					r.sawResponse(s.resp)
				}
				if s.reply != nil {
					r.sawRequest(s.reply)
				}
			}
			applied, _ := r.snapshot()
			dump, err := buildConfigDump(applied, true)
			if err != nil {
				t.Fatal(err)
			}
			rw, err := envoy.ParseConfigDump(dump)
			if err != nil {
				t.Fatalf("%v\n%s", err, dump)
			}
			if got := envoy.SubsetWeights(rw, testHost); !maps.Equal(got, tc.wantWeights) {
				t.Errorf("weights = %v, want %v", got, tc.wantWeights)
			}
			res := clusterResolver{rec: r}
			for addr, want := range tc.wantCluster {
				if got := res.clusterOf(addr); got != want {
					t.Errorf("clusterOf(%s) = %q, want %q", addr, got, want)
				}
			}
		})
	}
}
