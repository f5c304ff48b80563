package envoy

import (
	"reflect"
	"testing"
)

// An Istio-style /config_dump in Envoy's documented JSON shape, with Any payloads of
// extension types this binary does not link (they must be skipped, not fatal).
const configDump = `{
 "configs": [
  {"@type": "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
   "bootstrap": {"node": {"id": "sidecar~10.0.0.1~gw.istio-system~istio-system.svc.cluster.local",
     "metadata": {"ISTIO_VERSION": "1.31.1"}},
     "stats_config": {"stats_tags": [{"tag_name": "cluster_name", "regex": "^cluster\\.((.+?(\\..+?\\.svc\\.cluster\\.local)?)\\.)"}]}},
   "last_updated": "2026-07-01T10:00:00Z"},
  {"@type": "type.googleapis.com/istio.example.v1.NotLinked", "anything": {"goes": [1, 2]}},
  {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
   "static_route_configs": [
    {"route_config": {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
      "name": "static", "virtual_hosts": [{"name": "admin", "domains": ["*"],
       "routes": [{"match": {"prefix": "/stats"}, "route": {"cluster": "prometheus_stats"}}]}]}}],
   "dynamic_route_configs": [
    {"version_info": "2026-07-01T10:00:00Z/42",
     "route_config": {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
      "name": "9080",
      "virtual_hosts": [
       {"name": "reviews.default.svc.cluster.local:9080",
        "domains": ["reviews.default.svc.cluster.local", "reviews"],
        "typed_per_filter_config": {"istio.unknown_filter": {"@type": "type.googleapis.com/istio.unknown.v1.FilterConfig", "x": 1}},
        "routes": [
         {"name": "canary", "match": {"prefix": "/"},
          "route": {"weighted_clusters": {"clusters": [
            {"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "weight": 75,
             "typed_per_filter_config": {"x": {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct", "type_url": "acme.Thing", "value": {"a": 1}}}},
            {"name": "outbound|9080|v2|reviews.default.svc.cluster.local", "weight": 25}]},
           "timeout": "0s", "retry_policy": {"retry_on": "connect-failure", "num_retries": 2},
           "some_future_field": true}},
         {"name": "redirect", "match": {"prefix": "/old"}, "redirect": {"path_redirect": "/"}}]},
       {"name": "ratings.default.svc.cluster.local:9080", "domains": ["ratings"],
        "routes": [{"name": "default", "match": {"prefix": "/"},
          "route": {"cluster": "outbound|9080|v1|ratings.default.svc.cluster.local"}}]}]},
     "last_updated": "2026-07-01T10:00:00Z"}]}
 ]
}`

// ?resource=dynamic_route_configs returns the route configs as the top-level configs.
const dynamicRouteConfigs = `{"configs": [
 {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump.DynamicRouteConfig",
  "version_info": "7",
  "route_config": {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
   "name": "http.8080",
   "virtual_hosts": [{"name": "reviews.default.svc.cluster.local:9080", "domains": ["*"],
    "routes": [{"name": "r", "match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
      {"name": "outbound|9080|v2|reviews.default.svc.cluster.local", "weight": 100}]}}}]}]}}]}`

func TestParseConfigDump(t *testing.T) {
	tests := map[string]struct {
		dump        string
		want        []RouteWeights
		wantReviews map[string]uint32
	}{
		"full dump with unknown Any types": {
			dump: configDump,
			want: []RouteWeights{
				{RouteConfig: "static", VirtualHost: "admin", Clusters: map[string]uint32{"prometheus_stats": 100}},
				{RouteConfig: "9080", VirtualHost: "reviews.default.svc.cluster.local:9080", Route: "canary", Version: "2026-07-01T10:00:00Z/42", Clusters: map[string]uint32{
					"outbound|9080|v1|reviews.default.svc.cluster.local": 75,
					"outbound|9080|v2|reviews.default.svc.cluster.local": 25,
				}},
				{RouteConfig: "9080", VirtualHost: "ratings.default.svc.cluster.local:9080", Route: "default", Version: "2026-07-01T10:00:00Z/42", Clusters: map[string]uint32{
					"outbound|9080|v1|ratings.default.svc.cluster.local": 100,
				}},
			},
			wantReviews: map[string]uint32{"v1": 75, "v2": 25},
		},
		"resource=dynamic_route_configs, weight-0 subset dropped": {
			dump: dynamicRouteConfigs,
			want: []RouteWeights{{RouteConfig: "http.8080", VirtualHost: "reviews.default.svc.cluster.local:9080", Route: "r", Version: "7",
				Clusters: map[string]uint32{"outbound|9080|v2|reviews.default.svc.cluster.local": 100}}},
			wantReviews: map[string]uint32{"v2": 100},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if f := Detect([]byte(tc.dump)); f != FormatConfigDump {
				t.Fatalf("Detect = %v", f)
			}
			got, err := ParseConfigDump([]byte(tc.dump))
			if err != nil {
				t.Fatalf("ParseConfigDump: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseConfigDump = %+v\nwant %+v", got, tc.want)
			}
			if w := SubsetWeights(got, reviews); !reflect.DeepEqual(w, tc.wantReviews) {
				t.Errorf("SubsetWeights = %v, want %v", w, tc.wantReviews)
			}
			if w := SubsetWeights(got, "nope.default.svc.cluster.local"); w != nil {
				t.Errorf("SubsetWeights(unknown host) = %v, want nil", w)
			}
		})
	}
}

func TestParseConfigDumpErrors(t *testing.T) {
	tests := map[string]string{
		"not json":      "cluster.x.upstream_rq_2xx: 1",
		"no configs":    `{"configs": []}`,
		"truncated":     configDump[:len(configDump)/2],
		"bad route any": `{"configs":[{"@type":"type.googleapis.com/envoy.admin.v3.RoutesConfigDump","dynamic_route_configs":[{"route_config":{"@type":"type.googleapis.com/envoy.config.route.v3.RouteConfiguration","virtual_hosts":"nope"}}]}]}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseConfigDump([]byte(in)); err == nil {
				t.Errorf("ParseConfigDump = %+v, want an error", got)
			}
		})
	}
}
