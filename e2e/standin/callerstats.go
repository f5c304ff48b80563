package standin

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicedev/sluice/e2e/promtext"
)

// clusterStats are one upstream cluster's cumulative counters in a caller's proxy.
type clusterStats struct {
	byCode      map[int]uint64
	total       uint64 // upstream_rq_total: requests sent to an upstream host
	connectFail uint64
	latency     promtext.Histogram // the requests that were timed
}

// callerStats is one caller proxy's cluster stats; safe for concurrent use.
type callerStats struct {
	host    string
	trimmed *atomic.Bool
	mu      sync.Mutex
	// clusters holds the Service's outbound clusters, by name.
	clusters map[string]*clusterStats
}

func (s *callerStats) record(cluster string, code int, latencyMs float64, sent, connectFail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clusters[cluster]
	if c == nil {
		c = &clusterStats{byCode: map[int]uint64{}}
		s.clusters[cluster] = c
	}
	c.byCode[code]++
	if sent {
		c.total++
	}
	if connectFail {
		c.connectFail++
	}
	if math.IsNaN(latencyMs) {
		return
	}
	c.latency.Observe(wholeMs(latencyMs))
}

// xdsCluster is the control-plane cluster Istio's default stats inclusion always keeps.
const xdsCluster = "xds-grpc"

// writePrometheus writes the proxy's page as Istio's Envoy renders /stats/prometheus with
// `usedonly`: counter families, then gauges, then histograms, each family's samples
// together, cluster_name last (see testdata/envoy/istio-1.5-sidecar-stats-prometheus.txt).
func (s *callerStats) writePrometheus(w io.Writer) error { return writeCallerPage(w, s) }

// snapshot adds the proxy's clusters (none while trimmed) to snap and their names to names.
func (s *callerStats) snapshot(snap map[string]clusterStats, names []string) []string {
	if s.trimmed.Load() {
		return names
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, c := range s.clusters {
		names = append(names, name)
		snap[name] = clusterStats{byCode: maps.Clone(c.byCode), total: c.total, connectFail: c.connectFail, latency: c.latency.Clone()}
	}
	return names
}

// writeCallerPage writes one proxy's page holding the clusters of every stats (one per
// Service the proxy calls; a shared gateway's page carries them all).
func writeCallerPage(w io.Writer, stats ...*callerStats) error {
	names := []string{xdsCluster}
	snap := map[string]clusterStats{xdsCluster: {byCode: map[int]uint64{200: 1}, total: 1}}
	for _, s := range stats {
		names = s.snapshot(snap, names)
	}
	slices.Sort(names)

	bw := bufio.NewWriter(w)
	counter := func(family string, v func(c clusterStats) uint64) {
		bw.WriteString("# TYPE " + family + " counter\n")
		for _, n := range names {
			if x := v(snap[n]); x > 0 {
				promtext.WriteSample(bw, family, clusterLabel(n), x)
			}
		}
	}
	counter("envoy_cluster_upstream_cx_connect_fail", func(c clusterStats) uint64 { return c.connectFail })
	bw.WriteString("# TYPE envoy_cluster_upstream_rq counter\n")
	for _, n := range names {
		c := snap[n]
		classes := map[int]uint64{}
		for _, code := range slices.Sorted(maps.Keys(c.byCode)) {
			classes[code/100] += c.byCode[code]
		}
		for _, class := range slices.Sorted(maps.Keys(classes)) {
			promtext.WriteSample(bw, "envoy_cluster_upstream_rq", promtext.Labels([2]string{"response_code_class", strconv.Itoa(class) + "xx"}, [2]string{"cluster_name", n}), classes[class])
		}
		for _, code := range slices.Sorted(maps.Keys(c.byCode)) {
			promtext.WriteSample(bw, "envoy_cluster_upstream_rq", promtext.Labels([2]string{"response_code", strconv.Itoa(code)}, [2]string{"cluster_name", n}), c.byCode[code])
		}
	}
	counter("envoy_cluster_upstream_rq_completed", func(c clusterStats) uint64 {
		var t uint64
		for _, v := range c.byCode {
			t += v
		}
		return t
	})
	counter("envoy_cluster_upstream_rq_total", func(c clusterStats) uint64 { return c.total })
	bw.WriteString("# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n")
	bw.WriteString("# TYPE istio_build gauge\nistio_build{component=\"proxy\",tag=\"1.24.0\"} 1\n")
	bw.WriteString("# TYPE envoy_cluster_upstream_rq_time histogram\n")
	for _, n := range names {
		if c := snap[n]; c.latency.Count > 0 {
			promtext.WriteHistogram(bw, "envoy_cluster_upstream_rq_time", clusterLabel(n), c.latency)
		}
	}
	return bw.Flush()
}

// clusterLabel renders the cluster_name label of an Envoy cluster stat.
func clusterLabel(cluster string) string { return promtext.Labels([2]string{"cluster_name", cluster}) }

// serveCallerStats serves stats on ip:StatsPort (never on all addresses).
func serveCallerStats(ip netip.Addr, stats *callerStats) (*statsServer, error) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(StatsPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for stand-in caller stats: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatsPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_ = stats.writePrometheus(w) // a failed write means the scraper went away
	})
	s := &statsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}
