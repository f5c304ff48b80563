package meshlab

import (
	"errors"
	"fmt"
	"slices"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	// Istio puts this retry host predicate in every route; linked so routes render in full.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
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
	out, err := protojson.MarshalOptions{Multiline: true, Indent: " ", Resolver: dumpResolver{}}.Marshal(&dump)
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

// dumpResolver resolves the types this binary links and renders any other Any payload
// (an extension config grpc-go ignores) as an empty message carrying only its @type.
type dumpResolver struct{}

func (dumpResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (dumpResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if errors.Is(err, protoregistry.NotFound) {
		return placeholderType, nil
	}
	return mt, err
}

func (dumpResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (dumpResolver) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, n)
}

// placeholderType is an empty message standing in for Any payloads of unlinked types.
var placeholderType = func() protoreflect.MessageType {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String("sluice/meshlab/placeholder.proto"),
		Package:     proto.String("sluice.meshlab.placeholder"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Unlinked")}},
	}, nil)
	if err != nil {
		panic(fmt.Sprintf("building placeholder descriptor: %v", err))
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}()
