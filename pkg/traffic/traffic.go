// Package traffic is the per-subset traffic model that the stats parsers and sources
// produce and the windows and decisions consume: cumulative request counters by response
// class, latency histograms and their quantiles, and which gRPC statuses count as failures.
package traffic

// Histogram is a cumulative latency histogram in milliseconds, Prometheus style.
type Histogram struct {
	// Bounds are the finite upper bounds in milliseconds, ascending.
	Bounds []float64
	// Counts[i] is the cumulative number of observations <= Bounds[i].
	Counts []uint64
	// Count is the total number of observations (the +Inf bucket).
	Count uint64
	// Sum is the sum of all observations in milliseconds.
	Sum float64
}

// Clone returns a copy of h that shares no memory with it; an empty h stays empty.
func (h Histogram) Clone() Histogram {
	if len(h.Bounds) == 0 && h.Count == 0 {
		return Histogram{}
	}
	h.Bounds = append([]float64(nil), h.Bounds...)
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

// Counts are cumulative request counters of one subset as reported by one endpoint.
type Counts struct {
	// Requests is every completed request.
	Requests uint64
	// Rq2xx … Rq5xx split Requests by response code class; requests with another or
	// no code (e.g. response_code="0") are in Requests only.
	Rq2xx, Rq3xx, Rq4xx, Rq5xx uint64
	// Latency is the request duration histogram; empty when the endpoint has none.
	Latency Histogram
	// P50, P99 are computed quantiles in ms when the source only has those
	// (Envoy's /stats text and JSON formats); 0 when absent.
	P50, P99 float64
}

// Errors is the number of requests counted as failures: 5xx responses.
func (c Counts) Errors() uint64 { return c.Rq5xx }

// GRPCServerFailure reports whether a gRPC status code, written as Istio's
// grpc_response_status label writes it ("13"), is a failure the server is to blame for.
// Istio reports a gRPC call that failed with, say, INTERNAL as response_code="200" (the
// HTTP exchange succeeded) and grpc_response_status="13"; sluice counts such calls as 5xx:
// UNKNOWN (2), DEADLINE_EXCEEDED (4), UNIMPLEMENTED (12), INTERNAL (13), UNAVAILABLE (14)
// and DATA_LOSS (15), the statuses gRPC's HTTP mapping and Google's API guidelines put at
// 5xx. Statuses about the request (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED, …) and
// CANCELLED stay with their HTTP class, like a 4xx.
func GRPCServerFailure(status string) bool {
	switch status {
	case "2", "4", "12", "13", "14", "15":
		return true
	}
	return false
}
