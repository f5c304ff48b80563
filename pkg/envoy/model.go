package envoy

import (
	"maps"
	"slices"
)

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

// Errors is the number of requests counted as failures: 5xx responses.
func (c Counts) Errors() uint64 { return c.Rq5xx }

// Report is what one scrape of one endpoint says, keyed by subset (caller side: the
// SUBSET of `outbound|PORT|SUBSET|HOST`; destination side: destination_version).
type Report struct {
	Subsets map[string]Counts
	// GRPCFailuresIn2xx is set on the caller side when Subsets come from Envoy's cluster
	// stats: per destination_version, the calls that Istio's source-reporter metrics on
	// the same page show as gRPC server failures (grpc_response_status UNKNOWN,
	// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE or DATA_LOSS) answered with
	// HTTP 200. Envoy charges upstream_rq by the HTTP status, so the cluster stats count
	// those calls as 2xx; the caller source moves them to 5xx of the subset whose pods
	// carry that version.
	GRPCFailuresIn2xx map[string]uint64
}

// MoveGRPCFailures returns r with GRPCFailuresIn2xx moved from 2xx to 5xx of their
// subsets: subsetOf maps a destination_version to its subset ("" for a version that
// belongs to no single subset); a version missing from it is taken as a subset name. The
// move is capped at the subset's 2xx: the two counters come from one page, but Envoy may
// update one a moment before the other. r itself is not changed.
func (r Report) MoveGRPCFailures(subsetOf map[string]string) Report {
	if len(r.GRPCFailuresIn2xx) == 0 {
		return r
	}
	subsets := maps.Clone(r.Subsets)
	for v, n := range r.GRPCFailuresIn2xx {
		s, ok := subsetOf[v]
		if !ok {
			s = v
		}
		c, ok := subsets[s]
		if s == "" || !ok {
			continue
		}
		moved := min(n, c.Rq2xx)
		c.Rq2xx -= moved
		c.Rq5xx += moved
		subsets[s] = c
	}
	return Report{Subsets: subsets}
}

// Total sums every subset of the report: the destination-side view of one pod.
func (r Report) Total() Counts {
	var t Counts
	for _, c := range r.Subsets {
		t.Requests += c.Requests
		t.Rq2xx += c.Rq2xx
		t.Rq3xx += c.Rq3xx
		t.Rq4xx += c.Rq4xx
		t.Rq5xx += c.Rq5xx
		t.Latency = mergeHistogram(t.Latency, c.Latency)
		if c.P50 > t.P50 {
			t.P50 = c.P50
		}
		if c.P99 > t.P99 {
			t.P99 = c.P99
		}
	}
	return t
}

// mergeHistogram adds b into a when their bounds agree; otherwise keeps the larger.
func mergeHistogram(a, b Histogram) Histogram {
	if a.Count == 0 && len(a.Bounds) == 0 {
		return b.Clone()
	}
	if len(b.Bounds) == 0 && b.Count == 0 {
		return a
	}
	if !slices.Equal(a.Bounds, b.Bounds) {
		if b.Count > a.Count {
			return b.Clone()
		}
		return a
	}
	for i := range a.Counts {
		a.Counts[i] += b.Counts[i]
	}
	a.Count += b.Count
	a.Sum += b.Sum
	return a
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
