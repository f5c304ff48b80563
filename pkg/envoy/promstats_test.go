package envoy

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/pkg/traffic"
)

const reviews = "reviews.default.svc.cluster.local"

func TestParsePrometheusHandWritten(t *testing.T) {
	tests := map[string]struct {
		page string
		q    Query
		want map[string]traffic.Counts // Latency ignored unless wantHist
	}{
		"istio class and code series of one name are not both summed": {
			page: `# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 90
envoy_cluster_upstream_rq{response_code_class="5xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 90
envoy_cluster_upstream_rq{response_code="503",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq_completed{cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 100
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 7
envoy_cluster_upstream_rq{response_code_class="4xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 3
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080||reviews.default.svc.cluster.local"} 1000
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|ratings.default.svc.cluster.local"} 1000
`,
			q: Query{Host: reviews, Side: Source},
			want: map[string]traffic.Counts{
				"v1": {Requests: 100, Rq2xx: 90, Rq5xx: 10},
				"v2": {Requests: 10, Rq2xx: 7, Rq4xx: 3},
			},
		},
		"code-only series are summed by class": {
			page: `envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|80|canary|reviews.default.svc.cluster.local"} 5
envoy_cluster_upstream_rq{response_code="201",cluster_name="outbound|80|canary|reviews.default.svc.cluster.local"} 5
envoy_cluster_upstream_rq{response_code="503",cluster_name="outbound|80|canary|reviews.default.svc.cluster.local"} 2
`,
			q:    Query{Host: reviews, Side: Source},
			want: map[string]traffic.Counts{"canary": {Requests: 12, Rq2xx: 10, Rq5xx: 2}},
		},
		"plain envoy names, external_ and internal_ never added": {
			page: `envoy_cluster_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 8
envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 2
envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 8
envoy_cluster_external_upstream_rq_xx{envoy_response_code_class="2",envoy_cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 8
envoy_cluster_internal_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 2
envoy_cluster_external_upstream_rq_completed{envoy_cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 8
`,
			q:    Query{Host: reviews, Side: Source},
			want: map[string]traffic.Counts{"v2": {Requests: 10, Rq2xx: 8, Rq5xx: 2}},
		},
		"source side falls back to reporter=source when no cluster stats": {
			page: `istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200"} 4
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="503"} 1
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="0"} 2
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200"} 100
`,
			q: Query{Host: reviews, Side: Source},
			want: map[string]traffic.Counts{
				"v1": {Requests: 4, Rq2xx: 4},
				"v2": {Requests: 3, Rq5xx: 1},
			},
		},
		"label escapes, odd spacing, timestamps, CRLF": {
			page: "istio_requests_total{ reporter = \"destination\" , source_workload=\"a\\\"b\\\\c\\n\", destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v\\\"2\",response_code=\"500\",} 3 1712345678000\r\n" +
				"   # indented comment\n\n",
			q:    Query{Host: reviews, Side: Destination},
			want: map[string]traffic.Counts{`v"2`: {Requests: 3, Rq5xx: 3}},
		},
		"permissive_response_code does not count as response_code": {
			page: `istio_requests_total{permissive_response_code="503",reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200"} 6
`,
			q:    Query{Host: reviews, Side: Destination},
			want: map[string]traffic.Counts{"v1": {Requests: 6, Rq2xx: 6}},
		},
		"gRPC failures come as HTTP 200 with a grpc_response_status": {
			page: `istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="0"} 80
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="13"} 7
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="14"} 2
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="4"} 1
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="5"} 6
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="1"} 3
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="503",grpc_response_status="14"} 4
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",request_protocol="http",response_code="200",grpc_response_status=""} 50
`,
			q: Query{Host: reviews, Side: Destination},
			want: map[string]traffic.Counts{
				// 13, 14 and 4 are the server's failures; NOT_FOUND (5) and CANCELLED (1) are not;
				// an HTTP 503 with status 14 counts once.
				"v2": {Requests: 103, Rq2xx: 89, Rq5xx: 14},
				"v1": {Requests: 50, Rq2xx: 50},
			},
		},
		"gRPC statuses on the source side too": {
			page: `istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="2"} 3
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="0"} 9
`,
			q:    Query{Host: reviews, Side: Source},
			want: map[string]traffic.Counts{"v2": {Requests: 12, Rq2xx: 9, Rq5xx: 3}},
		},
		"destination_service_name is not destination_service": {
			page: `istio_requests_total{reporter="destination",destination_service_name="reviews.default.svc.cluster.local",destination_service="other",destination_version="v1",response_code="200"} 6
`,
			q:    Query{Host: reviews, Side: Destination},
			want: map[string]traffic.Counts{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Parse([]byte(tc.page), tc.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			for k, c := range r.Subsets {
				c.Latency = traffic.Histogram{}
				r.Subsets[k] = c
			}
			if !reflect.DeepEqual(r.Subsets, tc.want) {
				t.Errorf("Parse = %+v\nwant    %+v", r.Subsets, tc.want)
			}
		})
	}
}

func TestParsePrometheusHistograms(t *testing.T) {
	page := `istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200",le="10"} 3
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200",le="100"} 8
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200",le="+Inf"} 10
istio_request_duration_milliseconds_sum{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200"} 400
istio_request_duration_milliseconds_count{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200"} 10
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="503",le="100"} 1
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="503",le="10"} 0
istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="503",le="+Inf"} 2
istio_request_duration_milliseconds_sum{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="503"} 5000.5
istio_request_duration_seconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",le="0.05"} 1
istio_request_duration_seconds_bucket{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",le="+Inf"} 1
istio_request_duration_seconds_sum{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2"} 0.0125
`
	r, err := Parse([]byte(page), Query{Host: reviews})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]traffic.Histogram{
		"v1": {Bounds: []float64{10, 100}, Counts: []uint64{3, 9}, Count: 12, Sum: 5400.5},
		"v2": {Bounds: []float64{50}, Counts: []uint64{1}, Count: 1, Sum: 12.5},
	}
	for v, h := range want {
		if got := r.Subsets[v].Latency; !reflect.DeepEqual(got, h) {
			t.Errorf("%s latency = %+v, want %+v", v, got, h)
		}
	}
}

func TestParseGarbage(t *testing.T) {
	tests := map[string]string{
		"empty":                   "",
		"html":                    "<html><body>503 Service Unavailable</body></html>",
		"binary":                  "\x1f\x8b\x08\x00\x00\x00",
		"json without stats":      `{"foo": 1}`,
		"truncated json":          `{"stats":[{"name":"cluster.x.upstream_rq_2xx","value":`,
		"prom then garbage":       "# TYPE a counter\na 1\n<<<>>>\n",
		"unterminated labels":     "envoy_cluster_upstream_rq{cluster_name=\"outbound|1|v1|reviews.default.svc.cluster.local\n",
		"missing value":           "envoy_cluster_upstream_rq_completed{cluster_name=\"x\"}\n",
		"negative counter":        "envoy_cluster_upstream_rq_completed{cluster_name=\"outbound|1|v1|reviews.default.svc.cluster.local\"} -1\n",
		"text then garbage":       "cluster.x.upstream_rq_2xx: 1\nthis is not a stat\n",
		"text bad counter":        "cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_2xx: many\n",
		"config dump as stats":    `{"configs":[]}`,
		"bad le":                  "envoy_cluster_upstream_rq_time_bucket{cluster_name=\"outbound|1|v1|reviews.default.svc.cluster.local\",le=\"soon\"} 1\n",
		"too many labels":         "envoy_cluster_upstream_rq_completed{" + strings.Repeat(`a="b",`, maxLabels+1) + "} 1\n",
		"text histogram mangled":  "cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_time: P0(nan,1\n",
		"backslash at end of val": "envoy_cluster_upstream_rq_completed{cluster_name=\"x\\",
	}
	for name, page := range tests {
		t.Run(name, func(t *testing.T) {
			if r, err := Parse([]byte(page), Query{Host: reviews, Side: Source}); err == nil {
				t.Errorf("Parse = %+v, want an error", r)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Format
	}{
		"prom comment":     {"# HELP x\n", FormatPrometheus},
		"prom bare sample": {"envoy_server_uptime 5\n", FormatPrometheus},
		"prom labels":      {"  \nx{a=\"b\"} 1", FormatPrometheus},
		"text":             {"cluster.outbound|9080|v1|r.svc;.upstream_rq_2xx: 1\n", FormatText},
		"text readout":     {"server.version:\n", FormatText},
		"json stats":       {`{"stats":[]}`, FormatJSON},
		"config dump":      {` {"configs": []}`, FormatConfigDump},
		"html":             {"<html>", FormatUnknown},
		"empty":            {" \n", FormatUnknown},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Detect([]byte(tc.in)); got != tc.want {
				t.Errorf("Detect = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseSourceGRPCFailuresIn2xx(t *testing.T) {
	// A gateway's page: Envoy's cluster stats count INTERNAL as 200; Istio's metrics carry it.
	page := `envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 10
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="13"} 4
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="0"} 6
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200",grpc_response_status="3"} 2
istio_requests_total{reporter="source",destination_service="ratings.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="13"} 9
istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="13"} 50
`
	tests := map[string]struct {
		q    Query
		want map[string]uint64
	}{
		"source side with cluster stats":       {q: Query{Host: reviews, Side: Source}, want: map[string]uint64{"v2": 4}},
		"destination side counts them in 5xx":  {q: Query{Host: reviews, Side: Destination}, want: nil},
		"another host's failures are not ours": {q: Query{Host: "ratings.default.svc.cluster.local", Side: Source}, want: nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Parse([]byte(page), tc.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(r.GRPCFailuresIn2xx, tc.want) {
				t.Fatalf("GRPCFailuresIn2xx = %v, want %v", r.GRPCFailuresIn2xx, tc.want)
			}
		})
	}
}

func TestMoveGRPCFailures(t *testing.T) {
	rep := func(c map[string]traffic.Counts, g map[string]uint64) Report {
		return Report{Subsets: c, GRPCFailuresIn2xx: g}
	}
	tests := map[string]struct {
		in       Report
		versions map[string]string
		want     map[string]traffic.Counts
	}{
		"moved to the subset of the version": {
			in:       rep(map[string]traffic.Counts{"canary": {Requests: 10, Rq2xx: 10}}, map[string]uint64{"1.5.0": 4}),
			versions: map[string]string{"1.5.0": "canary"},
			want:     map[string]traffic.Counts{"canary": {Requests: 10, Rq2xx: 6, Rq5xx: 4}},
		},
		"unmapped version taken as a subset name": {
			in:   rep(map[string]traffic.Counts{"v2": {Requests: 3, Rq2xx: 3}}, map[string]uint64{"v2": 1}),
			want: map[string]traffic.Counts{"v2": {Requests: 3, Rq2xx: 2, Rq5xx: 1}},
		},
		"capped at the subset's 2xx": {
			in:   rep(map[string]traffic.Counts{"v2": {Requests: 3, Rq2xx: 2, Rq5xx: 1}}, map[string]uint64{"v2": 5}),
			want: map[string]traffic.Counts{"v2": {Requests: 3, Rq5xx: 3}},
		},
		"ambiguous or unknown versions move nothing": {
			in:       rep(map[string]traffic.Counts{"blue": {Requests: 3, Rq2xx: 3}}, map[string]uint64{"v3": 2, "unknown": 1}),
			versions: map[string]string{"v3": ""},
			want:     map[string]traffic.Counts{"blue": {Requests: 3, Rq2xx: 3}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			orig := map[string]traffic.Counts{}
			for k, v := range tc.in.Subsets {
				orig[k] = v
			}
			got := tc.in.MoveGRPCFailures(tc.versions)
			if !reflect.DeepEqual(got.Subsets, tc.want) || got.GRPCFailuresIn2xx != nil {
				t.Fatalf("MoveGRPCFailures = %+v, want subsets %+v and no failures left", got, tc.want)
			}
			if !reflect.DeepEqual(tc.in.Subsets, orig) {
				t.Fatalf("input report changed: %+v", tc.in.Subsets)
			}
		})
	}
}
