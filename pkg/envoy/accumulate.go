package envoy

import (
	"bytes"
	"math"
	"strings"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// codeSource is where a cluster's response-code split came from. Envoy reports the same
// requests several ways (per class and per code, as a tag or in the stat name); exactly
// one of them is summed, in this order of preference.
type codeSource int

const (
	srcClassLabel codeSource = iota // response_code_class="5xx" / envoy_response_code_class="5"
	srcClassName                    // upstream_rq_5xx
	srcCodeLabel                    // response_code="503" / envoy_response_code="503"
	srcCodeName                     // upstream_rq_503
	nSources
)

// clusterAcc accumulates the request stats of one upstream cluster.
type clusterAcc struct {
	completed    uint64
	hasCompleted bool
	// byClass[src][c] counts requests of class c (1..5; 0 = any other code) from src.
	byClass [nSources][6]uint64
	has     [nSources]bool
	hist    histAcc
	p50     float64
	p99     float64
	// used says the current page has a sample of the cluster (HostsParser keeps the
	// accumulators of the last page and drops those the next page does not use).
	used bool
}

// reset empties a for the next page, keeping its histogram's arrays.
func (a *clusterAcc) reset() {
	*a = clusterAcc{hist: a.hist.emptied()}
}

// addCode records v requests of the given class from src.
func (a *clusterAcc) addClass(src codeSource, class int, v uint64) {
	if class < 1 || class > 5 {
		class = 0
	}
	a.byClass[src][class] += v
	a.has[src] = true
}

// counts resolves the accumulated stats into Counts, never adding two sources together.
// The histogram's arrays come from slab (nil: their own).
func (a *clusterAcc) counts(slab *histSlab) traffic.Counts {
	var c traffic.Counts
	var sum uint64
	for src := range nSources {
		if !a.has[src] {
			continue
		}
		cl := a.byClass[src]
		c.Rq2xx, c.Rq3xx, c.Rq4xx, c.Rq5xx = cl[2], cl[3], cl[4], cl[5]
		for _, v := range cl {
			sum += v
		}
		break
	}
	c.Requests = max(a.completed, sum)
	c.Latency = a.hist.histogram(slab)
	c.P50, c.P99 = a.p50, a.p99
	return c
}

// clusterSet holds the accumulators of the clusters a scan keeps.
type clusterSet struct {
	m map[string]*clusterAcc
	// keep reports whether a cluster is wanted; nil keeps all.
	keep func(name []byte) bool
}

func newClusterSet(keep func([]byte) bool) *clusterSet {
	return &clusterSet{m: map[string]*clusterAcc{}, keep: keep}
}

// get returns the accumulator of cluster name, or nil when the cluster is not wanted.
func (s *clusterSet) get(name []byte) *clusterAcc {
	if a, ok := s.m[string(name)]; ok {
		a.used = true
		return a
	}
	if s.keep != nil && !s.keep(name) {
		return nil
	}
	a := &clusterAcc{used: true}
	s.m[string(name)] = a
	return a
}

// keepHost returns a filter accepting the outbound subset clusters of host. It does not allocate.
func keepHost(host string) func([]byte) bool {
	const prefix = "outbound|"
	suffix := "|" + host
	return func(name []byte) bool {
		if host == "" || len(name) < len(prefix)+len(suffix) ||
			string(name[:len(prefix)]) != prefix || string(name[len(name)-len(suffix):]) != suffix {
			return false
		}
		mid := name[len(prefix) : len(name)-len(suffix)] // PORT|SUBSET
		i := bytes.IndexByte(mid, '|')
		return i > 0 && i < len(mid)-1 && bytes.IndexByte(mid[i+1:], '|') < 0
	}
}

// splitOutbound splits an Istio cluster name outbound|PORT|SUBSET|HOST.
func splitOutbound(name string) (subset, host string, ok bool) {
	rest, found := strings.CutPrefix(name, "outbound|")
	if !found {
		return "", "", false
	}
	port, rest, found := strings.Cut(rest, "|")
	if !found || port == "" {
		return "", "", false
	}
	subset, host, found = strings.Cut(rest, "|")
	if !found || host == "" || strings.Contains(host, "|") {
		return "", "", false
	}
	return subset, host, true
}

// addRqStat applies one Envoy cluster stat upstream_rq_<rest> (e.g. rest = "5xx") to a.
// It reports whether the stat was one sluice reads.
func (a *clusterAcc) addRqStat(rest []byte, v uint64) bool {
	if string(rest) == "completed" {
		a.completed += v
		a.hasCompleted = true
		return true
	}
	if len(rest) != 3 || rest[0] < '1' || rest[0] > '5' {
		return false
	}
	switch {
	case rest[1] == 'x' && rest[2] == 'x':
		a.addClass(srcClassName, int(rest[0]-'0'), v)
	case isDigit(rest[1]) && isDigit(rest[2]):
		a.addClass(srcCodeName, int(rest[0]-'0'), v)
	default:
		return false
	}
	return true
}

// classOf returns the class digit of a response code ("503" → 5, "5xx" → 5, "5" → 5);
// 0 for anything else (e.g. "0" when no response was received).
func classOf(code []byte) int {
	if len(code) == 0 || code[0] < '1' || code[0] > '5' {
		return 0
	}
	switch len(code) {
	case 1:
		return int(code[0] - '0')
	case 3:
		if (code[1] == 'x' && code[2] == 'x') || (isDigit(code[1]) && isDigit(code[2])) {
			return int(code[0] - '0')
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// histAcc sums Prometheus histogram series that share bucket bounds (already in ms).
type histAcc struct {
	les    []float64
	counts []uint64
	inf    uint64
	hasInf bool
	count  uint64
	sum    float64
}

func (h *histAcc) addBucket(le float64, v uint64) {
	if math.IsInf(le, 1) {
		h.inf += v
		h.hasInf = true
		return
	}
	for i, b := range h.les {
		if b == le {
			h.counts[i] += v
			return
		}
	}
	h.les = append(h.les, le)
	h.counts = append(h.counts, v)
}

// emptied returns h with nothing accumulated and its arrays kept for the next page.
func (h *histAcc) emptied() histAcc {
	return histAcc{les: h.les[:0], counts: h.counts[:0]}
}

// histogram returns the accumulated histogram with sorted bounds, its arrays from slab
// (nil: their own); empty when nothing was seen.
func (h *histAcc) histogram(slab *histSlab) traffic.Histogram {
	if len(h.les) == 0 && !h.hasInf && h.count == 0 && h.sum == 0 {
		return traffic.Histogram{}
	}
	out := traffic.Histogram{Sum: h.sum, Count: h.count}
	if h.hasInf {
		out.Count = h.inf
	}
	out.Bounds, out.Counts = slab.histogram(h.les, h.counts)
	return out
}

// istioAcc accumulates istio_requests_total and the request duration of one destination_version.
type istioAcc struct {
	byClass [6]uint64
	hist    histAcc
	used    bool // as clusterAcc.used
	// grpcIn2xx counts the gRPC server failures among the HTTP 2xx answers (also in byClass[5]).
	grpcIn2xx uint64
}

func (a *istioAcc) counts(slab *histSlab) traffic.Counts {
	var c traffic.Counts
	for _, v := range a.byClass {
		c.Requests += v
	}
	c.Rq2xx, c.Rq3xx, c.Rq4xx, c.Rq5xx = a.byClass[2], a.byClass[3], a.byClass[4], a.byClass[5]
	c.Latency = a.hist.histogram(slab)
	return c
}

// grpcIn2xx returns, per destination_version, the gRPC server failures answered with HTTP
// 2xx; nil when there are none.
func grpcIn2xx(m map[string]*istioAcc) map[string]uint64 {
	var out map[string]uint64
	for v, a := range m {
		if a.grpcIn2xx > 0 {
			if out == nil {
				out = map[string]uint64{}
			}
			out[v] = a.grpcIn2xx
		}
	}
	return out
}

func istioReport(m map[string]*istioAcc, slab *histSlab) Report {
	r := Report{Subsets: make(map[string]traffic.Counts, len(m))}
	for v, a := range m {
		r.Subsets[v] = a.counts(slab)
	}
	return r
}
