package standin

import (
	"bufio"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// labelEscaper escapes a label value for the text exposition format.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// DurationBuckets are Istio's default bounds of istio_request_duration_milliseconds
// (the finite ones; +Inf follows).
var DurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// workload is the identity a destination sidecar reports for its pod.
type workload struct {
	Namespace, Service                  string // destination_service_namespace, destination_service_name
	Workload                            string // destination_workload, e.g. reviews-v2
	App, Version                        string // destination_app, destination_version
	CanonicalService, CanonicalRevision string
}

// series is one response code's cumulative counters in one pod.
type series struct {
	requests uint64
	buckets  []uint64 // per bucket (not cumulative), len(DurationBuckets)+1, last is +Inf
	sumMs    uint64
}

// podStats holds the cumulative istio_* counters of one pod's sidecar. It is safe for
// concurrent use; counters only ever grow.
type podStats struct {
	id     workload
	mu     sync.Mutex
	byCode map[int]*series
}

func newPodStats(id workload) *podStats {
	return &podStats{id: id, byCode: map[int]*series{}}
}

// record counts one request with the given response code and duration in ms. Like
// Envoy, the duration is recorded as whole milliseconds.
func (p *podStats) record(code int, latencyMs float64) {
	ms := uint64(0)
	if latencyMs > 0 && !math.IsInf(latencyMs, 1) {
		ms = uint64(math.Round(latencyMs))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.byCode[code]
	if s == nil {
		s = &series{buckets: make([]uint64, len(DurationBuckets)+1)}
		p.byCode[code] = s
	}
	s.requests++
	s.sumMs += ms
	i, _ := slices.BinarySearch(DurationBuckets, float64(ms))
	s.buckets[i]++
}

// writePrometheus writes the pod's istio_* families in the text exposition format and
// label order of an Istio sidecar's /stats/prometheus.
func (p *podStats) writePrometheus(w io.Writer) error {
	p.mu.Lock()
	codes := make([]int, 0, len(p.byCode))
	snap := make(map[int]series, len(p.byCode))
	for c, s := range p.byCode {
		codes = append(codes, c)
		snap[c] = series{requests: s.requests, sumMs: s.sumMs, buckets: slices.Clone(s.buckets)}
	}
	p.mu.Unlock()
	slices.Sort(codes)

	bw := bufio.NewWriter(w)
	if len(codes) > 0 {
		bw.WriteString("# TYPE istio_requests_total counter\n")
		for _, c := range codes {
			writeSample(bw, "istio_requests_total", p.id.labels(c), "", snap[c].requests)
		}
	}
	bw.WriteString("# TYPE istio_build gauge\n")
	bw.WriteString("istio_build{component=\"proxy\",tag=\"1.24.0\"} 1\n")
	if len(codes) > 0 {
		bw.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
		for _, c := range codes {
			s := snap[c]
			labels := p.id.labels(c)
			var cum uint64
			for i, n := range s.buckets {
				cum += n
				le := "+Inf"
				if i < len(DurationBuckets) {
					le = strconv.FormatFloat(DurationBuckets[i], 'f', -1, 64)
				}
				writeSample(bw, "istio_request_duration_milliseconds_bucket", labels, le, cum)
			}
			writeSample(bw, "istio_request_duration_milliseconds_sum", labels, "", s.sumMs)
			writeSample(bw, "istio_request_duration_milliseconds_count", labels, "", s.requests)
		}
	}
	return bw.Flush()
}

func writeSample(bw *bufio.Writer, name, labels, le string, v uint64) {
	bw.WriteString(name)
	bw.WriteByte('{')
	bw.WriteString(labels)
	if le != "" {
		bw.WriteString(`,le="`)
		bw.WriteString(le)
		bw.WriteByte('"')
	}
	bw.WriteString("} ")
	bw.WriteString(strconv.FormatUint(v, 10))
	bw.WriteByte('\n')
}

// labels renders the standard Istio labels of a destination-reported request from the
// ingress gateway, in the order of Istio's own output (response_code first, canonical
// labels last; see fixtures/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt).
func (id workload) labels(code int) string {
	host := id.Service + "." + id.Namespace + ".svc.cluster.local"
	pairs := [][2]string{
		{"response_code", strconv.Itoa(code)},
		{"reporter", "destination"},
		{"source_workload", "istio-ingressgateway"},
		{"source_workload_namespace", "istio-system"},
		{"source_principal", "unknown"},
		{"source_app", "istio-ingressgateway"},
		{"source_version", "unknown"},
		{"source_cluster", "Kubernetes"},
		{"destination_workload", id.Workload},
		{"destination_workload_namespace", id.Namespace},
		{"destination_principal", "unknown"},
		{"destination_app", id.App},
		{"destination_version", id.Version},
		{"destination_service", host},
		{"destination_service_name", id.Service},
		{"destination_service_namespace", id.Namespace},
		{"destination_cluster", "Kubernetes"},
		{"request_protocol", "http"},
		{"response_flags", "-"},
		{"grpc_response_status", ""},
		{"connection_security_policy", "none"},
		{"source_canonical_service", "istio-ingressgateway"},
		{"destination_canonical_service", id.CanonicalService},
		{"source_canonical_revision", "latest"},
		{"destination_canonical_revision", id.CanonicalRevision},
	}
	var b []byte
	for i, p := range pairs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p[0]...)
		b = append(b, '=')
		b = append(b, '"')
		b = append(b, labelEscaper.Replace(p[1])...)
		b = append(b, '"')
	}
	return string(b)
}
