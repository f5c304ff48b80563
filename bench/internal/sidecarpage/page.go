// Package sidecarpage builds the filtered /stats/prometheus page a busy Istio sidecar
// sends, shared by bench/scrape (its 4,000 stand-ins serve it) and bench/parse.
package sidecarpage

import (
	"fmt"
	"strings"
)

// Host is the destination_service of every series on the page.
const Host = "reviews.default.svc.cluster.local"

// istioBounds are Istio's default request duration / size bucket bounds.
var istioBounds = []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"}

// Filtered is what an Istio sidecar of destination_version version sends for
// /stats/prometheus?usedonly&filter=istio_request: istio_requests_total and the
// istio_request_duration_milliseconds and istio_request_bytes histograms, reporter
// "destination", for 2 calling workloads × 2 response codes, with Istio's full label set
// (169,957 bytes for "v1"). Its pods count 121,465 requests, 20 of them 5xx.
func Filtered(version string) string {
	var b strings.Builder
	type series struct {
		caller, code string
		n            int
	}
	all := []series{{"productpage-v1", "200", 81234}, {"productpage-v1", "503", 17}, {"istio-ingressgateway", "200", 40211}, {"istio-ingressgateway", "503", 3}}
	labels := func(s series) string {
		return fmt.Sprintf(`reporter="destination",source_workload=%q,source_canonical_service=%q,source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/%s",source_app=%q,source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-%s",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version=%q,destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision=%q,destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code=%q,grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"`,
			s.caller, s.caller, s.caller, s.caller, version, version, version, s.code)
	}
	b.WriteString("# TYPE istio_requests_total counter\n")
	for _, s := range all {
		fmt.Fprintf(&b, "istio_requests_total{%s} %d\n", labels(s), s.n)
	}
	for _, h := range []string{"istio_request_bytes", "istio_request_duration_milliseconds"} {
		fmt.Fprintf(&b, "# TYPE %s histogram\n", h)
		for _, s := range all {
			for i, le := range istioBounds {
				fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d\n", h, labels(s), le, s.n*min(i+1, 10)/10)
			}
			fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n", h, labels(s), s.n)
			fmt.Fprintf(&b, "%s_sum{%s} %d\n", h, labels(s), s.n*37)
			fmt.Fprintf(&b, "%s_count{%s} %d\n", h, labels(s), s.n)
		}
	}
	return b.String()
}
