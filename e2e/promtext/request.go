package promtext

import "strconv"

// Request is one series' labels of Istio's standard request metrics
// (istio_requests_total, istio_request_duration_milliseconds).
type Request struct {
	ResponseCode int
	Reporter     string // "source" or "destination"

	SourceWorkload, SourceNamespace string // also source_app and source_canonical_service

	// The destination: its Service (destination_service is NAME.NAMESPACE.svc.cluster.local)
	// and the workload that answered.
	DestinationService, DestinationNamespace string
	DestinationWorkload                      string
	DestinationApp, DestinationVersion       string
	DestinationCanonicalService              string
	DestinationCanonicalRevision             string

	Protocol      string // request_protocol: "http" or "grpc"
	ResponseFlags string // "-" when none
	GRPCStatus    string // grpc_response_status: a number, or "" for HTTP
}

// String renders the labels in the order of Istio's own output (response_code first,
// canonical labels last; testdata/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt).
func (r Request) String() string {
	return Labels(
		[2]string{"response_code", strconv.Itoa(r.ResponseCode)},
		[2]string{"reporter", r.Reporter},
		[2]string{"source_workload", r.SourceWorkload},
		[2]string{"source_workload_namespace", r.SourceNamespace},
		[2]string{"source_principal", "unknown"},
		[2]string{"source_app", r.SourceWorkload},
		[2]string{"source_version", "unknown"},
		[2]string{"source_cluster", "Kubernetes"},
		[2]string{"destination_workload", r.DestinationWorkload},
		[2]string{"destination_workload_namespace", r.DestinationNamespace},
		[2]string{"destination_principal", "unknown"},
		[2]string{"destination_app", r.DestinationApp},
		[2]string{"destination_version", r.DestinationVersion},
		[2]string{"destination_service", r.DestinationService + "." + r.DestinationNamespace + ".svc.cluster.local"},
		[2]string{"destination_service_name", r.DestinationService},
		[2]string{"destination_service_namespace", r.DestinationNamespace},
		[2]string{"destination_cluster", "Kubernetes"},
		[2]string{"request_protocol", r.Protocol},
		[2]string{"response_flags", r.ResponseFlags},
		[2]string{"grpc_response_status", r.GRPCStatus},
		[2]string{"connection_security_policy", "none"},
		[2]string{"source_canonical_service", r.SourceWorkload},
		[2]string{"destination_canonical_service", r.DestinationCanonicalService},
		[2]string{"source_canonical_revision", "latest"},
		[2]string{"destination_canonical_revision", r.DestinationCanonicalRevision},
	)
}
