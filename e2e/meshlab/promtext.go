package meshlab

import (
	"bufio"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// DurationBuckets are the finite bounds (ms) of Istio's and Envoy's default request
// duration histograms; +Inf follows.
var DurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// counter is one series' cumulative request count and duration histogram.
type counter struct {
	requests uint64
	buckets  []uint64 // per bucket, not cumulative; last is +Inf
	sumMs    uint64
	last     time.Time
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
		s = &counter{buckets: make([]uint64, len(DurationBuckets)+1)}
		c.m[k] = s
	}
	s.requests++
	s.sumMs += ms
	i, _ := slices.BinarySearch(DurationBuckets, float64(ms))
	s.buckets[i]++
	s.last = at
}

// snapshot copies every series.
func (c *counters[K]) snapshot() map[K]counter {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[K]counter, len(c.m))
	for k, s := range c.m {
		cp := *s
		cp.buckets = slices.Clone(s.buckets)
		out[k] = cp
	}
	return out
}

// labelPairs renders name="value" pairs in order.
func labelPairs(pairs ...[2]string) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p[0])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(p[1]))
		b.WriteByte('"')
	}
	return b.String()
}

func writeSample(bw *bufio.Writer, name, labels string, v uint64) {
	bw.WriteString(name)
	bw.WriteByte('{')
	bw.WriteString(labels)
	bw.WriteString("} ")
	bw.WriteString(strconv.FormatUint(v, 10))
	bw.WriteByte('\n')
}

// writeHistogram writes the _bucket, _sum and _count samples of one series.
func writeHistogram(bw *bufio.Writer, family, labels string, s counter) {
	var cum uint64
	for i, n := range s.buckets {
		cum += n
		le := "+Inf"
		if i < len(DurationBuckets) {
			le = strconv.FormatFloat(DurationBuckets[i], 'f', -1, 64)
		}
		writeSample(bw, family+"_bucket", labels+`,le="`+le+`"`, cum)
	}
	writeSample(bw, family+"_sum", labels, s.sumMs)
	writeSample(bw, family+"_count", labels, s.requests)
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
// fixtures/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt.
func (r requestSeries) labels() string {
	id := r.dst
	host := id.Service + "." + id.Namespace + ".svc.cluster.local"
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
	return labelPairs(
		[2]string{"response_code", strconv.Itoa(r.code)},
		[2]string{"reporter", r.reporter},
		[2]string{"source_workload", r.sourceWorkload},
		[2]string{"source_workload_namespace", r.sourceNs},
		[2]string{"source_principal", "unknown"},
		[2]string{"source_app", r.sourceWorkload},
		[2]string{"source_version", "unknown"},
		[2]string{"source_cluster", "Kubernetes"},
		[2]string{"destination_workload", workload},
		[2]string{"destination_workload_namespace", id.Namespace},
		[2]string{"destination_principal", "unknown"},
		[2]string{"destination_app", app},
		[2]string{"destination_version", version},
		[2]string{"destination_service", host},
		[2]string{"destination_service_name", id.Service},
		[2]string{"destination_service_namespace", id.Namespace},
		[2]string{"destination_cluster", "Kubernetes"},
		[2]string{"request_protocol", "grpc"},
		[2]string{"response_flags", flags},
		[2]string{"grpc_response_status", strconv.Itoa(int(r.grpcStatus))},
		[2]string{"connection_security_policy", "none"},
		[2]string{"source_canonical_service", r.sourceWorkload},
		[2]string{"destination_canonical_service", app},
		[2]string{"source_canonical_revision", "latest"},
		[2]string{"destination_canonical_revision", version},
	)
}
