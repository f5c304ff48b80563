package meshlab

import (
	"bufio"
	"cmp"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/sluicedev/sluice/e2e/promtext"
)

// Unresolved is the cluster name calls are counted under when the backend that served
// them is in no upstream cluster the client has applied.
const Unresolved = "meshlab_unresolved"

// clusterResolver maps a backend address to the upstream cluster the client sent the call
// to: of the applied clusters (EDS) holding the address, one the applied routes name
// before one they no longer name (a call started before a route change), and a subset
// cluster before the subset-less one; failing that, the same among resources received
// but not yet ACKed.
type clusterResolver struct {
	rec *xdsRecorder

	mu      sync.Mutex
	changed <-chan struct{} // of the snapshot byAddr was built from
	byAddr  map[string]string
}

func (r *clusterResolver) clusterOf(addr string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byAddr == nil || isClosed(r.changed) {
		applied, changed := r.rec.snapshot()
		received, _ := r.rec.receivedSnapshot()
		r.byAddr, r.changed = addressClusters(applied), changed
		for a, c := range addressClusters(received) {
			if _, ok := r.byAddr[a]; !ok {
				r.byAddr[a] = c
			}
		}
	}
	if c, ok := r.byAddr[addr]; ok {
		return c
	}
	return Unresolved
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// addressClusters builds the address → cluster map of applied resources.
func addressClusters(applied map[string]map[string]appliedResource) map[string]string {
	routed := map[string]bool{}
	for _, a := range applied[typeRoute] {
		var rc routev3.RouteConfiguration
		if a.resource.UnmarshalTo(&rc) != nil {
			continue
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, rt := range vh.GetRoutes() {
				if c := rt.GetRoute().GetCluster(); c != "" {
					routed[c] = true
				}
				for _, wc := range rt.GetRoute().GetWeightedClusters().GetClusters() {
					routed[wc.GetName()] = true
				}
			}
		}
	}
	out, rank := map[string]string{}, map[string]int{}
	for name, a := range applied[typeEndpoint] {
		var cla endpointv3.ClusterLoadAssignment
		if a.resource.UnmarshalTo(&cla) != nil {
			continue
		}
		r := 1
		if routed[name] {
			r += 2
		}
		if subsetOf(name) != "" {
			r++
		}
		for _, le := range cla.GetEndpoints() {
			for _, ep := range le.GetLbEndpoints() {
				sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
				addr := net.JoinHostPort(sa.GetAddress(), strconv.Itoa(int(sa.GetPortValue())))
				if r > rank[addr] || (r == rank[addr] && name < out[addr]) {
					out[addr], rank[addr] = name, r
				}
			}
		}
	}
	return out
}

// subsetOf returns SUBSET of outbound|PORT|SUBSET|HOST, or "".
func subsetOf(cluster string) string {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 {
		return ""
	}
	return parts[2]
}

// classOf renders an HTTP status's class, e.g. "5xx".
func classOf(code int) string { return strconv.Itoa(code/100) + "xx" }

// serveStats writes the caller's upstream request stats as an Istio sidecar's (or
// gateway's) Envoy does on /stats/prometheus: envoy_cluster_upstream_rq by class and by
// code, envoy_cluster_upstream_rq_completed and the envoy_cluster_upstream_rq_time
// histogram, which Envoy charges by HTTP status (so a gRPC failure the backend answered
// is a 200 there); then Istio's istio_requests_total{reporter="source"} and its duration
// histogram, which carry grpc_response_status.
func (c *Caller) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	snap := c.stats.snapshot()
	keys := make([]callerKey, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b callerKey) int {
		return cmp.Or(cmp.Compare(a.cluster, b.cluster), cmp.Compare(a.code, b.code), cmp.Compare(a.grpcStatus, b.grpcStatus))
	})
	type codeKey struct {
		cluster string
		code    int
	}
	byClass := map[[2]string]uint64{}
	byCode := map[codeKey]uint64{}
	var codeKeys []codeKey
	perCluster := map[string]promtext.Histogram{}
	var clusters []string
	for _, k := range keys {
		s := snap[k]
		byClass[[2]string{k.cluster, classOf(k.code)}] += s.Count
		ck := codeKey{k.cluster, k.code}
		if _, seen := byCode[ck]; !seen {
			codeKeys = append(codeKeys, ck)
		}
		byCode[ck] += s.Count
		agg, seen := perCluster[k.cluster]
		if !seen {
			clusters = append(clusters, k.cluster)
		}
		agg.Add(s.Histogram)
		perCluster[k.cluster] = agg
	}
	classes := make([][2]string, 0, len(byClass))
	for k := range byClass {
		classes = append(classes, k)
	}
	slices.SortFunc(classes, func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })

	bw := bufio.NewWriter(w)
	bw.WriteString("# TYPE envoy_cluster_upstream_rq counter\n")
	for _, k := range classes {
		promtext.WriteSample(bw, "envoy_cluster_upstream_rq", promtext.Labels([2]string{"response_code_class", k[1]}, [2]string{"cluster_name", k[0]}), byClass[k])
	}
	for _, k := range codeKeys {
		promtext.WriteSample(bw, "envoy_cluster_upstream_rq", promtext.Labels([2]string{"response_code", strconv.Itoa(k.code)}, [2]string{"cluster_name", k.cluster}), byCode[k])
	}
	bw.WriteString("# TYPE envoy_cluster_upstream_rq_completed counter\n")
	for _, cl := range clusters {
		promtext.WriteSample(bw, "envoy_cluster_upstream_rq_completed", promtext.Labels([2]string{"cluster_name", cl}), perCluster[cl].Count)
	}
	bw.WriteString("# TYPE envoy_cluster_upstream_rq_time histogram\n")
	for _, cl := range clusters {
		promtext.WriteHistogram(bw, "envoy_cluster_upstream_rq_time", promtext.Labels([2]string{"cluster_name", cl}), perCluster[cl])
	}
	c.writeIstioSource(bw, keys, snap)
	_ = bw.Flush()
}

// writeIstioSource writes istio_requests_total{reporter="source"} and
// istio_request_duration_milliseconds for the calls to outbound|PORT|SUBSET|HOST clusters;
// the lab's pods carry version=SUBSET, which Istio reports as destination_version.
func (c *Caller) writeIstioSource(bw *bufio.Writer, keys []callerKey, snap map[callerKey]counter) {
	type series struct {
		labels string
		h      promtext.Histogram
	}
	var out []series
	index := map[string]int{}
	for _, k := range keys {
		dst, ok := workloadOf(k.cluster)
		if !ok {
			continue
		}
		if k.code != 200 {
			dst.Version = "" // Envoy answered in place of a pod: no peer to name
		}
		l := requestSeries{reporter: "source", sourceWorkload: c.cfg.Name, sourceNs: c.cfg.Namespace,
			dst: dst, code: k.code, grpcStatus: k.grpcStatus}.labels()
		i, seen := index[l]
		if !seen {
			i = len(out)
			index[l] = i
			out = append(out, series{labels: l})
		}
		out[i].h.Add(snap[k].Histogram)
	}
	if len(out) == 0 {
		return
	}
	bw.WriteString("# TYPE istio_requests_total counter\n")
	for _, s := range out {
		promtext.WriteSample(bw, "istio_requests_total", s.labels, s.h.Count)
	}
	bw.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
	for _, s := range out {
		promtext.WriteHistogram(bw, "istio_request_duration_milliseconds", s.labels, s.h)
	}
}

// workloadOf names the workload behind an outbound|PORT|SUBSET|HOST cluster of a
// HOST = SERVICE.NAMESPACE.svc... name; false for other clusters.
func workloadOf(cluster string) (Workload, bool) {
	parts := strings.Split(cluster, "|")
	if len(parts) != 4 || parts[0] != "outbound" {
		return Workload{}, false
	}
	host := strings.Split(parts[3], ".")
	if len(host) < 2 {
		return Workload{}, false
	}
	return Workload{Namespace: host[1], Service: host[0], App: host[0], Version: parts[2]}, true
}
