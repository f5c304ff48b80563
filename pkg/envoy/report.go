package envoy

import (
	"maps"
	"slices"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// Report is what one scrape of one endpoint says, keyed by subset (caller side: the
// SUBSET of `outbound|PORT|SUBSET|HOST`; destination side: destination_version).
type Report struct {
	Subsets map[string]traffic.Counts
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
func (r Report) Total() traffic.Counts {
	var t traffic.Counts
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
func mergeHistogram(a, b traffic.Histogram) traffic.Histogram {
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
