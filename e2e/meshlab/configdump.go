package meshlab

import (
	"fmt"
	"slices"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	// Istio puts this retry host predicate in every route; linked so routes render in full.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// buildConfigDump renders applied xDS resources as Envoy's admin /config_dump: listeners,
// clusters and routes (and endpoints when includeEDS, like Envoy's ?include_eds).
func buildConfigDump(applied map[string]map[string]appliedResource, includeEDS bool) ([]byte, error) {
	var lds adminv3.ListenersConfigDump
	for _, name := range sortedNames(applied[typeListener]) {
		a := applied[typeListener][name]
		lds.VersionInfo = maxVersion(lds.VersionInfo, a.version)
		lds.DynamicListeners = append(lds.DynamicListeners, &adminv3.ListenersConfigDump_DynamicListener{
			Name: name,
			ActiveState: &adminv3.ListenersConfigDump_DynamicListenerState{
				VersionInfo: a.version, Listener: a.resource, LastUpdated: timestamppb.New(a.at),
			},
		})
	}
	var cds adminv3.ClustersConfigDump
	for _, name := range sortedNames(applied[typeCluster]) {
		a := applied[typeCluster][name]
		cds.VersionInfo = maxVersion(cds.VersionInfo, a.version)
		cds.DynamicActiveClusters = append(cds.DynamicActiveClusters, &adminv3.ClustersConfigDump_DynamicCluster{
			VersionInfo: a.version, Cluster: a.resource, LastUpdated: timestamppb.New(a.at),
		})
	}
	var rds adminv3.RoutesConfigDump
	for _, name := range sortedNames(applied[typeRoute]) {
		a := applied[typeRoute][name]
		rds.DynamicRouteConfigs = append(rds.DynamicRouteConfigs, &adminv3.RoutesConfigDump_DynamicRouteConfig{
			VersionInfo: a.version, RouteConfig: a.resource, LastUpdated: timestamppb.New(a.at),
		})
	}
	msgs := []proto.Message{&cds, &lds, &rds}
	if includeEDS {
		var eds adminv3.EndpointsConfigDump
		for _, name := range sortedNames(applied[typeEndpoint]) {
			a := applied[typeEndpoint][name]
			eds.DynamicEndpointConfigs = append(eds.DynamicEndpointConfigs, &adminv3.EndpointsConfigDump_DynamicEndpointConfig{
				VersionInfo: a.version, EndpointConfig: a.resource, LastUpdated: timestamppb.New(a.at),
			})
		}
		msgs = append(msgs, &eds)
	}
	var dump adminv3.ConfigDump
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			return nil, fmt.Errorf("building config dump: %w", err)
		}
		dump.Configs = append(dump.Configs, a)
	}
	out, err := protojson.MarshalOptions{Multiline: true, Indent: " ", Resolver: envoy.LenientResolver{}}.Marshal(&dump)
	if err != nil {
		return nil, fmt.Errorf("rendering config dump: %w", err)
	}
	return out, nil
}

func sortedNames(m map[string]appliedResource) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// maxVersion keeps the later of two version strings (istiod's are timestamps, so the
// longer-then-larger string is later).
func maxVersion(a, b string) string {
	if len(b) > len(a) || (len(b) == len(a) && b > a) {
		return b
	}
	return a
}
