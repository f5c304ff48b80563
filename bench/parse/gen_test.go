package parse_test

import (
	"bytes"
	"fmt"
	"strings"
)

// Page sizes of the generated Istio sidecar /stats/prometheus page.
const (
	genServices     = 100 // each with a plain cluster and 3 subsets: 400 outbound clusters
	genIstioSeries  = 60  // istio_requests_total series per reporter
	benchHost       = "svc-7.bench.svc.cluster.local"
	clusterFamilies = 40
)

var latencyBounds = []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"}

// generatePage builds a realistic Istio sidecar /stats/prometheus page in Envoy's layout
// (families grouped under # TYPE lines): hundreds of outbound clusters with counters,
// gauges and histograms, and istio_requests_total / istio_request_duration_milliseconds
// series with Istio's standard labels for both reporters.
func generatePage() []byte {
	var clusters []string
	for s := range genServices {
		host := fmt.Sprintf("svc-%d.bench.svc.cluster.local", s)
		for _, subset := range []string{"", "v1", "v2", "canary"} {
			clusters = append(clusters, fmt.Sprintf("outbound|%d|%s|%s", 8000+s%10, subset, host))
		}
	}
	clusters = append(clusters, "xds-grpc", "prometheus_stats", "agent", "BlackHoleCluster", "PassthroughCluster", "InboundPassthroughClusterIpv4")
	var b bytes.Buffer
	counters := []string{"upstream_cx_total", "upstream_cx_http1_total", "upstream_cx_http2_total", "upstream_cx_connect_fail",
		"upstream_cx_connect_timeout", "upstream_cx_destroy", "upstream_cx_destroy_local", "upstream_cx_destroy_remote",
		"upstream_cx_rx_bytes_total", "upstream_cx_tx_bytes_total", "upstream_cx_protocol_error", "upstream_cx_overflow",
		"upstream_rq_total", "upstream_rq_completed", "upstream_rq_timeout", "upstream_rq_per_try_timeout",
		"upstream_rq_retry", "upstream_rq_retry_success", "upstream_rq_retry_overflow", "upstream_rq_cancelled",
		"upstream_rq_pending_total", "upstream_rq_pending_overflow", "upstream_rq_pending_failure_eject",
		"upstream_rq_rx_reset", "upstream_rq_tx_reset", "upstream_rq_maintenance_mode", "upstream_flow_control_paused_reading_total",
		"membership_change", "update_attempt", "update_success", "update_empty", "update_no_rebuild", "lb_healthy_panic",
		"lb_zone_no_capacity_left", "retry_or_shadow_abandoned", "bind_errors", "original_dst_host_invalid",
		"internal_upstream_rq_completed", "external_upstream_rq_completed", "upstream_rq_503"}
	for i, f := range counters[:clusterFamilies] {
		fmt.Fprintf(&b, "# TYPE envoy_cluster_%s counter\n", f)
		for j, c := range clusters {
			fmt.Fprintf(&b, "envoy_cluster_%s{cluster_name=\"%s\"} %d\n", f, c, (i*7919+j*104729)%100000)
		}
	}
	for _, f := range []string{"upstream_rq", "internal_upstream_rq", "external_upstream_rq"} {
		fmt.Fprintf(&b, "# TYPE envoy_cluster_%s counter\n", f)
		for j, c := range clusters {
			ok, bad := 1000+j*13, j%7
			fmt.Fprintf(&b, "envoy_cluster_%s{response_code_class=\"2xx\",cluster_name=\"%s\"} %d\n", f, c, ok)
			fmt.Fprintf(&b, "envoy_cluster_%s{response_code_class=\"5xx\",cluster_name=\"%s\"} %d\n", f, c, bad)
			fmt.Fprintf(&b, "envoy_cluster_%s{response_code=\"200\",cluster_name=\"%s\"} %d\n", f, c, ok)
			fmt.Fprintf(&b, "envoy_cluster_%s{response_code=\"503\",cluster_name=\"%s\"} %d\n", f, c, bad)
		}
	}
	for _, g := range []string{"circuit_breakers_default_remaining_cx", "circuit_breakers_default_remaining_rq",
		"circuit_breakers_default_cx_open", "circuit_breakers_high_rq_open", "membership_healthy", "membership_total",
		"membership_degraded", "upstream_cx_active", "upstream_rq_active", "upstream_rq_pending_active", "max_host_weight",
		"version", "lb_subsets_active", "upstream_cx_rx_bytes_buffered", "upstream_cx_tx_bytes_buffered"} {
		fmt.Fprintf(&b, "# TYPE envoy_cluster_%s gauge\n", g)
		for j, c := range clusters {
			fmt.Fprintf(&b, "envoy_cluster_%s{cluster_name=\"%s\"} %d\n", g, c, j%50)
		}
	}
	for _, h := range []string{"upstream_cx_connect_ms", "upstream_cx_length_ms", "upstream_rq_time"} {
		fmt.Fprintf(&b, "# TYPE envoy_cluster_%s histogram\n", h)
		for j, c := range clusters {
			writeHistogram(&b, "envoy_cluster_"+h, fmt.Sprintf("cluster_name=\"%s\"", c), j)
		}
	}
	writeIstio(&b)
	for i := range 300 {
		fmt.Fprintf(&b, "# TYPE envoy_server_stat_%d counter\nenvoy_server_stat_%d{} %d\n", i, i, i)
	}
	return b.Bytes()
}

func writeHistogram(b *bytes.Buffer, name, labels string, seed int) {
	n := 0
	for i, le := range latencyBounds {
		n += (seed*31 + i*17) % 9
		fmt.Fprintf(b, "%s_bucket{%s,le=\"%s\"} %d\n", name, labels, le, n)
	}
	fmt.Fprintf(b, "%s_bucket{%s,le=\"+Inf\"} %d\n%s_sum{%s} %d.5\n%s_count{%s} %d\n", name, labels, n, name, labels, n*42, name, labels, n)
}

func istioLabels(reporter string, i int) string {
	svc := fmt.Sprintf("svc-%d", i%(genServices/4))
	version := []string{"v1", "v2", "canary"}[i%3]
	code := []string{"200", "200", "200", "404", "503", "0"}[i%6]
	return strings.Join([]string{
		`response_code="` + code + `"`, `reporter="` + reporter + `"`,
		`source_workload="frontend-` + fmt.Sprint(i%5) + `"`, `source_workload_namespace="bench"`,
		`source_principal="spiffe://cluster.local/ns/bench/sa/frontend"`, `source_app="frontend"`, `source_version="v1"`,
		`source_cluster="Kubernetes"`, `destination_workload="` + svc + `-` + version + `"`, `destination_workload_namespace="bench"`,
		`destination_principal="spiffe://cluster.local/ns/bench/sa/` + svc + `"`, `destination_app="` + svc + `"`,
		`destination_version="` + version + `"`, `destination_service="` + svc + `.bench.svc.cluster.local"`,
		`destination_service_name="` + svc + `"`, `destination_service_namespace="bench"`, `destination_cluster="Kubernetes"`,
		`request_protocol="http"`, `response_flags="-"`, `grpc_response_status=""`, `connection_security_policy="mutual_tls"`,
		`source_canonical_service="frontend"`, `destination_canonical_service="` + svc + `"`,
		`source_canonical_revision="v1"`, `destination_canonical_revision="` + version + `"`,
	}, ",")
}

func writeIstio(b *bytes.Buffer) {
	b.WriteString("# TYPE istio_requests_total counter\n")
	for _, r := range []string{"source", "destination"} {
		for i := range genIstioSeries {
			fmt.Fprintf(b, "istio_requests_total{%s} %d\n", istioLabels(r, i), 10+i*3)
		}
	}
	for _, h := range []string{"istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"} {
		fmt.Fprintf(b, "# TYPE %s histogram\n", h)
		for _, r := range []string{"source", "destination"} {
			for i := range genIstioSeries {
				writeHistogram(b, h, istioLabels(r, i), i)
			}
		}
	}
}
