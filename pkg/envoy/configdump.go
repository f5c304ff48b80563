package envoy

import (
	"errors"
	"fmt"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
)

// RouteWeights is one route of a config dump and the clusters it splits traffic across.
type RouteWeights struct {
	RouteConfig, VirtualHost, Route string
	// Version is the route configuration's version_info (dynamic configs; "" for static
	// ones). istiod sets it to its push version, e.g. "2026-11-23T00:01:13Z/33".
	Version string
	// Clusters maps cluster name to weight. A route to a single cluster has weight 100.
	Clusters map[string]uint32
}

// ParseConfigDump reads the routes of an Envoy /config_dump (whole, or
// ?resource=dynamic_route_configs) and returns every route that names clusters.
// Any types of extensions this binary does not link are skipped, not fatal.
func ParseConfigDump(data []byte) ([]RouteWeights, error) {
	var dump adminv3.ConfigDump
	opts := protojson.UnmarshalOptions{DiscardUnknown: true, Resolver: LenientResolver{}}
	if err := opts.Unmarshal(data, &dump); err != nil {
		return nil, fmt.Errorf("parsing config dump: %w", err)
	}
	if len(dump.GetConfigs()) == 0 {
		return nil, fmt.Errorf("parsing config dump: no configs: %w", ErrUnknownFormat)
	}
	var out []RouteWeights
	for _, c := range dump.GetConfigs() {
		var routes []versioned
		switch c.MessageName() {
		case "envoy.admin.v3.RoutesConfigDump":
			var rd adminv3.RoutesConfigDump
			if err := c.UnmarshalTo(&rd); err != nil {
				return nil, fmt.Errorf("parsing config dump: routes: %w", err)
			}
			for _, s := range rd.GetStaticRouteConfigs() {
				routes = append(routes, versioned{rc: s.GetRouteConfig()})
			}
			for _, d := range rd.GetDynamicRouteConfigs() {
				routes = append(routes, versioned{rc: d.GetRouteConfig(), version: d.GetVersionInfo()})
			}
		case "envoy.admin.v3.RoutesConfigDump.DynamicRouteConfig":
			var d adminv3.RoutesConfigDump_DynamicRouteConfig
			if err := c.UnmarshalTo(&d); err != nil {
				return nil, fmt.Errorf("parsing config dump: dynamic route config: %w", err)
			}
			routes = append(routes, versioned{rc: d.GetRouteConfig(), version: d.GetVersionInfo()})
		case "envoy.admin.v3.RoutesConfigDump.StaticRouteConfig":
			var s adminv3.RoutesConfigDump_StaticRouteConfig
			if err := c.UnmarshalTo(&s); err != nil {
				return nil, fmt.Errorf("parsing config dump: static route config: %w", err)
			}
			routes = append(routes, versioned{rc: s.GetRouteConfig()})
		}
		for _, v := range routes {
			if v.rc == nil {
				continue
			}
			var rc routev3.RouteConfiguration
			if err := v.rc.UnmarshalTo(&rc); err != nil {
				return nil, fmt.Errorf("parsing config dump: route configuration: %w", err)
			}
			out = append(out, routeWeights(&rc, v.version)...)
		}
	}
	return out, nil
}

// versioned is a route configuration of a dump with its version_info.
type versioned struct {
	rc      *anypb.Any
	version string
}

func routeWeights(rc *routev3.RouteConfiguration, version string) []RouteWeights {
	var out []RouteWeights
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			action := r.GetRoute()
			if action == nil {
				continue
			}
			clusters := map[string]uint32{}
			if wc := action.GetWeightedClusters(); wc != nil {
				for _, c := range wc.GetClusters() {
					clusters[c.GetName()] += c.GetWeight().GetValue()
				}
			} else if name := action.GetCluster(); name != "" {
				clusters[name] = 100
			}
			if len(clusters) == 0 {
				continue
			}
			out = append(out, RouteWeights{RouteConfig: rc.GetName(), VirtualHost: vh.GetName(), Route: r.GetName(), Version: version, Clusters: clusters})
		}
	}
	return out
}

// SubsetWeights maps the first route sending to host's outbound|PORT|SUBSET|HOST clusters to
// subset → weight. Subsets the route does not name are absent, meaning weight 0 (Istio drops
// weight-0 destinations). It returns nil when no route sends to a subset of host.
func SubsetWeights(rw []RouteWeights, host string) map[string]uint32 {
	w, _ := SubsetWeightsVersion(rw, host)
	return w
}

// SubsetWeightsVersion is SubsetWeights with the Version of the route it read.
func SubsetWeightsVersion(rw []RouteWeights, host string) (map[string]uint32, string) {
	for _, r := range rw {
		var out map[string]uint32
		for name, w := range r.Clusters {
			subset, h, ok := splitOutbound(name)
			if !ok || h != host || subset == "" {
				continue
			}
			if out == nil {
				out = map[string]uint32{}
			}
			out[subset] += w
		}
		if out != nil {
			return out, r.Version
		}
	}
	return nil, ""
}

// LenientResolver resolves the protobuf types this binary links and maps every other Any
// type URL to an empty placeholder message, so config dumps with extension configs this
// binary does not know can still be read (and written) instead of failing.
type LenientResolver struct{}

func (LenientResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

func (LenientResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if errors.Is(err, protoregistry.NotFound) {
		return placeholderType, nil
	}
	return mt, err
}

func (LenientResolver) FindExtensionByName(name protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(name)
}

func (LenientResolver) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, n)
}

// placeholderType is an empty message standing in for Any payloads of unknown type.
var placeholderType = func() protoreflect.MessageType {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String("sluice/envoy/placeholder.proto"),
		Package:     proto.String("sluice.envoy.placeholder"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Unknown")}},
	}, nil)
	if err != nil {
		panic(fmt.Sprintf("building placeholder descriptor: %v", err))
	}
	return dynamicpb.NewMessageType(fd.Messages().Get(0))
}()
