package standin

import (
	"bufio"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/sluicedev/sluice/e2e/promtext"
)

// workload is the identity a destination sidecar reports for its pod.
type workload struct {
	Namespace, Service                  string // destination_service_namespace, destination_service_name
	Workload                            string // destination_workload, e.g. reviews-v2
	App, Version                        string // destination_app, destination_version
	CanonicalService, CanonicalRevision string
}

// podStats holds the cumulative istio_* counters of one pod's sidecar. It is safe for
// concurrent use; counters only ever grow.
type podStats struct {
	id     workload
	mu     sync.Mutex
	byCode map[int]*promtext.Histogram
}

func newPodStats(id workload) *podStats {
	return &podStats{id: id, byCode: map[int]*promtext.Histogram{}}
}

// record counts one request with the given response code and duration in ms. Like
// Envoy, the duration is recorded as whole milliseconds.
func (p *podStats) record(code int, latencyMs float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.byCode[code]
	if s == nil {
		s = &promtext.Histogram{}
		p.byCode[code] = s
	}
	s.Observe(wholeMs(latencyMs))
}

// wholeMs is a latency in Envoy's whole milliseconds: 0 for no or an unbounded latency.
func wholeMs(latencyMs float64) uint64 {
	if latencyMs > 0 && !math.IsInf(latencyMs, 1) {
		return uint64(math.Round(latencyMs))
	}
	return 0
}

// writePrometheus writes the pod's istio_* families in the text exposition format and
// label order of an Istio sidecar's /stats/prometheus.
func (p *podStats) writePrometheus(w io.Writer) error {
	p.mu.Lock()
	codes := make([]int, 0, len(p.byCode))
	snap := make(map[int]promtext.Histogram, len(p.byCode))
	for c, s := range p.byCode {
		codes = append(codes, c)
		snap[c] = s.Clone()
	}
	p.mu.Unlock()
	slices.Sort(codes)

	bw := bufio.NewWriter(w)
	if len(codes) > 0 {
		bw.WriteString("# TYPE istio_requests_total counter\n")
		for _, c := range codes {
			promtext.WriteSample(bw, "istio_requests_total", p.id.labels(c), snap[c].Count)
		}
	}
	bw.WriteString("# TYPE istio_build gauge\n")
	bw.WriteString("istio_build{component=\"proxy\",tag=\"1.24.0\"} 1\n")
	if len(codes) > 0 {
		bw.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
		for _, c := range codes {
			promtext.WriteHistogram(bw, "istio_request_duration_milliseconds", p.id.labels(c), snap[c])
		}
	}
	return bw.Flush()
}

// labels renders the standard Istio labels of a destination-reported request from the
// ingress gateway, in the order of Istio's own output (response_code first, canonical
// labels last; see testdata/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt).
func (id workload) labels(code int) string {
	return promtext.Request{
		ResponseCode: code, Reporter: "destination",
		SourceWorkload: "istio-ingressgateway", SourceNamespace: "istio-system",
		DestinationService: id.Service, DestinationNamespace: id.Namespace, DestinationWorkload: id.Workload,
		DestinationApp: id.App, DestinationVersion: id.Version,
		DestinationCanonicalService: id.CanonicalService, DestinationCanonicalRevision: id.CanonicalRevision,
		Protocol: "http", ResponseFlags: "-",
	}.String()
}
