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
)

// clusterStats are one upstream cluster's cumulative counters in a caller's proxy.
type clusterStats struct {
	byCode      map[int]uint64
	total       uint64 // upstream_rq_total: requests sent to an upstream host
	connectFail uint64
	buckets     []uint64 // per bucket, last is +Inf
	sumMs       uint64
	timed       uint64
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
		c = &clusterStats{byCode: map[int]uint64{}, buckets: make([]uint64, len(DurationBuckets)+1)}
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
	ms := uint64(0)
	if latencyMs > 0 && !math.IsInf(latencyMs, 1) {
		ms = uint64(math.Round(latencyMs))
	}
	i, _ := slices.BinarySearch(DurationBuckets, float64(ms))
	c.buckets[i]++
	c.sumMs += ms
	c.timed++
}

// xdsCluster is the control-plane cluster Istio's default stats inclusion always keeps.
const xdsCluster = "xds-grpc"

// writePrometheus writes the proxy's page as Istio's Envoy renders /stats/prometheus with
// `usedonly`: counter families, then gauges, then histograms, each family's samples
// together, cluster_name last (see fixtures/envoy/istio-1.5-sidecar-stats-prometheus.txt).
func (s *callerStats) writePrometheus(w io.Writer) error {
	s.mu.Lock()
	names := []string{xdsCluster}
	snap := map[string]clusterStats{xdsCluster: {byCode: map[int]uint64{200: 1}, total: 1}}
	if !s.trimmed.Load() {
		for name, c := range s.clusters {
			names = append(names, name)
			snap[name] = clusterStats{byCode: maps.Clone(c.byCode), total: c.total, connectFail: c.connectFail,
				buckets: slices.Clone(c.buckets), sumMs: c.sumMs, timed: c.timed}
		}
	}
	s.mu.Unlock()
	slices.Sort(names)

	bw := bufio.NewWriter(w)
	counter := func(family string, v func(c clusterStats) uint64) {
		bw.WriteString("# TYPE " + family + " counter\n")
		for _, n := range names {
			if x := v(snap[n]); x > 0 {
				writeClusterSample(bw, family, "", n, "", x)
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
			writeClusterSample(bw, "envoy_cluster_upstream_rq", `response_code_class="`+strconv.Itoa(class)+`xx"`, n, "", classes[class])
		}
		for _, code := range slices.Sorted(maps.Keys(c.byCode)) {
			writeClusterSample(bw, "envoy_cluster_upstream_rq", `response_code="`+strconv.Itoa(code)+`"`, n, "", c.byCode[code])
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
		c := snap[n]
		if c.timed == 0 {
			continue
		}
		var cum uint64
		for i, v := range c.buckets {
			cum += v
			le := "+Inf"
			if i < len(DurationBuckets) {
				le = strconv.FormatFloat(DurationBuckets[i], 'f', -1, 64)
			}
			writeClusterSample(bw, "envoy_cluster_upstream_rq_time_bucket", "", n, le, cum)
		}
		writeClusterSample(bw, "envoy_cluster_upstream_rq_time_sum", "", n, "", c.sumMs)
		writeClusterSample(bw, "envoy_cluster_upstream_rq_time_count", "", n, "", c.timed)
	}
	return bw.Flush()
}

// writeClusterSample writes name{tag,cluster_name="cluster",le="le"} v, leaving out an
// empty tag or le; tag is a rendered label pair.
func writeClusterSample(bw *bufio.Writer, name, tag, cluster, le string, v uint64) {
	bw.WriteString(name + "{")
	if tag != "" {
		bw.WriteString(tag + ",")
	}
	bw.WriteString(`cluster_name="` + labelEscaper.Replace(cluster) + `"`)
	if le != "" {
		bw.WriteString(`,le="` + le + `"`)
	}
	bw.WriteString("} " + strconv.FormatUint(v, 10) + "\n")
}

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
