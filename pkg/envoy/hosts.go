package envoy

import (
	"bytes"
	"fmt"
	"maps"
	"net/url"
	"strings"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// CallerStatsFilter is the Envoy admin `filter` regex (RE2, partial match on the full stat
// name) of a caller's host-independent page: Istio's request metrics, and the upstream_rq
// stats of every outbound subset cluster (outbound|PORT|SUBSET|HOST, with or without
// Istio's ';'). It keeps for every host what StatsFilter keeps on the caller side for one,
// so that one page of a caller serves every Service reading it.
const CallerStatsFilter = `istio_request|cluster\.outbound\|[0-9]+\|[^|]+\|[^|]+\.upstream_rq`

// CallerStatsURL appends `usedonly` and CallerStatsFilter to a stats endpoint URL such
// as http://10.0.0.1:15090/stats/prometheus.
func CallerStatsURL(endpoint string) string {
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + "usedonly&filter=" + url.QueryEscape(CallerStatsFilter)
}

// ParseHosts auto-detects the format of a stats page and parses it once into the Report
// of every host it has stats for, each as Parse(data, Query{Host: host, Side: side})
// returns it: on the caller side the host's outbound subset clusters (or, without any,
// its istio_requests_total{reporter="source"} series), on the destination side its
// reporter="destination" series. A host the page has nothing for is absent: its Report
// has no subsets, as Parse's would. The Reports are read-only: histograms with equal
// bounds share them (HostsParser.Parse says more).
//
// An error means the page is unreadable for every host. That is stricter than Parse,
// which skips a malformed value in another host's series: a page with a bad counter is
// missing data for every Service reading it, never zero traffic.
func ParseHosts(data []byte, side Side) (map[string]Report, error) {
	var p HostsParser
	return p.Parse(data, side)
}

// HostsParser is ParseHosts for the successive pages of one caller: it keeps the
// accumulators of one /stats/prometheus page for the next, which names the same clusters
// again, so that a page costs its scan and the Reports, not a new accumulator, map key
// and bucket array per cluster. The zero value is ready to use; not safe for concurrent
// use.
type HostsParser struct {
	agg *hostsAgg
}

// Parse is ParseHosts. The Reports share no memory with data or with the parser (a later
// Parse leaves them as they are); they are read-only: the histograms of one page take
// their bucket arrays from a few shared allocations, and share equal bounds.
func (p *HostsParser) Parse(data []byte, side Side) (map[string]Report, error) {
	switch f := Detect(data); f {
	case FormatPrometheus:
		if p.agg == nil {
			p.agg = newHostsAgg()
		}
		return p.agg.parse(data, side)
	case FormatText, FormatJSON:
		scan := scanText
		if f == FormatJSON {
			scan = scanJSON
		}
		set, err := scan(data, keepOutbound)
		if err != nil {
			return nil, err
		}
		if side != Source {
			// Istio's standard metrics are only read from /stats/prometheus.
			return map[string]Report{}, nil
		}
		return clusterReports(set, &histSlab{}), nil
	case FormatConfigDump:
		return nil, fmt.Errorf("parsing stats: got a %s, not a stats page", f)
	}
	return nil, fmt.Errorf("parsing stats: %w", ErrUnknownFormat)
}

// hostsAgg folds a /stats/prometheus page into the outbound subset clusters of every host
// and, per destination_service, Istio's request metrics.
type hostsAgg struct {
	clusters promAgg
	istio    map[string]*istioFilter
}

func newHostsAgg() *hostsAgg {
	return &hostsAgg{clusters: promAgg{clusters: newClusterSet(keepOutbound)}, istio: map[string]*istioFilter{}}
}

// parse folds one page into h, emptied of the last one, and returns every host's Report.
func (h *hostsAgg) parse(data []byte, side Side) (map[string]Report, error) {
	h.reset()
	prefixes := promPrefixes
	if side != Source {
		prefixes = istioPrefixes
	}
	err := scanPrometheus(data, prefixes, h.add)
	h.prune()
	if err != nil {
		return nil, err
	}
	slab := &histSlab{}
	if side != Source {
		out := map[string]Report{}
		for host, f := range h.istio {
			if len(f.dest) > 0 {
				out[host] = istioReport(f.dest, slab)
			}
		}
		return out, nil
	}
	out := clusterReports(h.clusters.clusters, slab)
	for host, r := range out {
		if f := h.istio[host]; f != nil {
			r.GRPCFailuresIn2xx = grpcIn2xx(f.src)
			out[host] = r
		}
	}
	for host, f := range h.istio {
		if _, ok := out[host]; !ok && len(f.src) > 0 {
			out[host] = istioReport(f.src, slab)
		}
	}
	return out, nil
}

// reset empties every accumulator for the next page, keeping them and their arrays.
func (h *hostsAgg) reset() {
	for _, a := range h.clusters.clusters.m {
		a.reset()
	}
	for _, f := range h.istio {
		f.used = false
		for _, m := range []map[string]*istioAcc{f.dest, f.src} {
			for _, a := range m {
				*a = istioAcc{hist: a.hist.emptied()}
			}
		}
	}
}

// prune drops the accumulators the page just scanned did not use, leaving h as a fresh
// hostsAgg would be after the page.
func (h *hostsAgg) prune() {
	maps.DeleteFunc(h.clusters.clusters.m, func(_ string, a *clusterAcc) bool { return !a.used })
	unused := func(_ string, a *istioAcc) bool { return !a.used }
	maps.DeleteFunc(h.istio, func(_ string, f *istioFilter) bool {
		maps.DeleteFunc(f.dest, unused)
		maps.DeleteFunc(f.src, unused)
		return !f.used
	})
}

// add routes a sample: cluster stats to the clusters, Istio's metrics to their host's filter.
func (h *hostsAgg) add(s *sample) error {
	if bytes.HasPrefix(s.name, []byte("envoy_cluster_upstream_rq")) {
		return h.clusters.add(s)
	}
	svc, ok := s.label("destination_service")
	if !ok || len(svc) == 0 {
		return nil
	}
	f := h.istio[string(svc)]
	if f == nil {
		f = &istioFilter{host: string(svc), dest: map[string]*istioAcc{}, src: map[string]*istioAcc{}}
		h.istio[f.host] = f
	}
	f.used = true
	one := promAgg{istio: f}
	return one.add(s)
}

// keepOutbound accepts the outbound subset clusters of any host: outbound|PORT|SUBSET|HOST
// with no part empty, what keepHost accepts for one host. It does not allocate.
func keepOutbound(name []byte) bool {
	rest, ok := bytes.CutPrefix(name, []byte("outbound|"))
	if !ok {
		return false
	}
	parts := 0
	for part := range bytes.SplitSeq(rest, []byte("|")) {
		if len(part) == 0 {
			return false
		}
		parts++
	}
	return parts == 3
}

// clusterReports groups the outbound subset clusters of set by host, each host's as
// clusterReport makes it.
func clusterReports(set *clusterSet, slab *histSlab) map[string]Report {
	out := map[string]Report{}
	for name, a := range set.m {
		subset, host, ok := splitOutbound(name)
		if !ok || subset == "" {
			continue
		}
		r, ok := out[host]
		if !ok {
			r = Report{Subsets: map[string]traffic.Counts{}}
			out[host] = r
		}
		c := a.counts(slab)
		if prev, ok := r.Subsets[subset]; ok {
			// Two ports of one subset: the sum is r's own (mergeHistogram adds into
			// prev's counts, which are prev's own part of the slab).
			c = addCounts(prev, c)
		}
		r.Subsets[subset] = c
	}
	return out
}
