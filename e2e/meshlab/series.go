package meshlab

import (
	"math"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedev/sluice/e2e/promtext"
)

// counter is one series' cumulative requests (Count) with their duration histogram, and
// when the last one ended.
type counter struct {
	promtext.Histogram
	last time.Time
}

// counters are cumulative per-key request counters, safe for concurrent use.
type counters[K comparable] struct {
	mu sync.Mutex
	m  map[K]*counter
}

// record counts one request of key k that took d, in whole milliseconds like Envoy.
func (c *counters[K]) record(k K, d time.Duration, at time.Time) {
	ms := uint64(math.Round(float64(d) / float64(time.Millisecond)))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[K]*counter{}
	}
	s := c.m[k]
	if s == nil {
		s = &counter{}
		c.m[k] = s
	}
	s.Observe(ms)
	s.last = at
}

// snapshot copies every series.
func (c *counters[K]) snapshot() map[K]counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[K]counter, len(c.m))
	for k, s := range c.m {
		out[k] = counter{Histogram: s.Clone(), last: s.last}
	}
	return out
}

// requestSeries is one istio_requests_total series: who called whom and how it ended.
type requestSeries struct {
	reporter                 string // "source" or "destination"
	sourceWorkload, sourceNs string
	// dst is the serving workload; with Version "" the call reached no pod, and Istio
	// reports the destination workload as "unknown".
	dst        Workload
	code       int
	grpcStatus codes.Code
}

// labels renders Istio's standard labels in the order of
// testdata/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt.
func (r requestSeries) labels() string {
	id := r.dst
	workload, app, version, flags := id.App+"-"+id.Version, id.App, id.Version, "-"
	if id.Version == "" {
		workload, app, version = "unknown", "unknown", "unknown"
		switch r.code {
		case 503:
			flags = "UF" // upstream connection failure
		case 504:
			flags = "UT" // upstream request timeout
		}
	}
	return promtext.Request{
		ResponseCode: r.code, Reporter: r.reporter,
		SourceWorkload: r.sourceWorkload, SourceNamespace: r.sourceNs,
		DestinationService: id.Service, DestinationNamespace: id.Namespace, DestinationWorkload: workload,
		DestinationApp: app, DestinationVersion: version,
		DestinationCanonicalService: app, DestinationCanonicalRevision: version,
		Protocol: "grpc", ResponseFlags: flags, GRPCStatus: strconv.Itoa(int(r.grpcStatus)),
	}.String()
}
