package envoy

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// splitClusterStat splits an Envoy stat name cluster.<cluster>[;].<stat> into the cluster
// name and the stat. Istio's alt_stat_name ends the cluster name with ';'; without it the
// stat is the last dot-separated part. Sub-scoped duplicates (internal., external., canary.,
// zone.<from>.<to>.) are rejected so they are never added in.
func splitClusterStat(name []byte) (cluster, stat []byte, ok bool) {
	rest, found := bytes.CutPrefix(name, []byte("cluster."))
	if !found {
		return nil, nil, false
	}
	if i := bytes.Index(rest, []byte(";.")); i >= 0 {
		cluster, stat = rest[:i], rest[i+2:]
		return cluster, stat, len(cluster) > 0 && bytes.IndexByte(stat, '.') < 0
	}
	j := bytes.LastIndexByte(rest, '.')
	if j <= 0 {
		return nil, nil, false
	}
	cluster, stat = rest[:j], rest[j+1:]
	for _, scope := range []string{".internal", ".external", ".canary"} {
		if bytes.HasSuffix(cluster, []byte(scope)) {
			return nil, nil, false
		}
	}
	if z := bytes.LastIndex(cluster, []byte(".zone.")); z >= 0 && bytes.Count(cluster[z+len(".zone."):], []byte(".")) == 1 {
		return nil, nil, false
	}
	return cluster, stat, true
}

// statSink applies Envoy cluster stats (from the text or JSON format) to a cluster set,
// ignoring repeated stat names.
type statSink struct {
	set  *clusterSet
	seen map[string]struct{}
}

func newStatSink(keep func([]byte) bool) *statSink {
	return &statSink{set: newClusterSet(keep), seen: map[string]struct{}{}}
}

// accFor returns the accumulator for a cluster upstream_rq_* stat name, or nil to skip it.
func (k *statSink) accFor(name []byte) (*clusterAcc, []byte) {
	cluster, stat, ok := splitClusterStat(name)
	if !ok {
		return nil, nil
	}
	rest, ok := bytes.CutPrefix(stat, []byte("upstream_rq_"))
	if !ok {
		return nil, nil
	}
	acc := k.set.get(cluster)
	if acc == nil {
		return nil, nil
	}
	if _, dup := k.seen[string(name)]; dup {
		return nil, nil
	}
	k.seen[string(name)] = struct{}{}
	return acc, rest
}

func parseText(data []byte, q Query) (Report, error) {
	set, err := scanText(data, keepHost(q.Host))
	if err != nil {
		return Report{}, err
	}
	if q.Side != Source {
		// Istio's standard metrics are only read from /stats/prometheus.
		return Report{Subsets: map[string]traffic.Counts{}}, nil
	}
	return clusterReport(set, q), nil
}

// scanText reads Envoy's admin /stats text format.
func scanText(data []byte, keep func([]byte) bool) (*clusterSet, error) {
	sink := newStatSink(keep)
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			continue
		}
		name, value, ok := bytes.Cut(line, []byte(": "))
		if !ok {
			if line[len(line)-1] != ':' {
				return nil, fmt.Errorf("parsing text stats: line %d: not `name: value`", lineNo)
			}
			continue
		}
		if len(name) < len("cluster.") || name[0] != 'c' {
			continue
		}
		acc, rest := sink.accFor(name)
		if acc == nil {
			continue
		}
		if string(rest) == "time" {
			if err := parseTextQuantiles(value, acc); err != nil {
				return nil, fmt.Errorf("parsing text stats: line %d: %w", lineNo, err)
			}
			continue
		}
		f, err := parseNumber(value)
		if err != nil {
			return nil, fmt.Errorf("parsing text stats: line %d: %w", lineNo, err)
		}
		v, err := toCount(f)
		if err != nil {
			return nil, fmt.Errorf("parsing text stats: line %d: %w", lineNo, err)
		}
		acc.addRqStat(rest, v)
	}
	return sink.set, nil
}

// parseTextQuantiles reads a text histogram `P0(interval,cumulative) P25(…) …` (or
// `No recorded values`) and keeps the cumulative P50 and P99.
func parseTextQuantiles(value []byte, acc *clusterAcc) error {
	if string(value) == "No recorded values" {
		return nil
	}
	for tok := range bytes.FieldsSeq(value) {
		q, rest, ok := bytes.Cut(tok, []byte("("))
		if !ok || len(q) < 2 || q[0] != 'P' || len(rest) == 0 || rest[len(rest)-1] != ')' {
			return fmt.Errorf("bad histogram quantile %q", tok)
		}
		_, cum, ok := bytes.Cut(rest[:len(rest)-1], []byte(","))
		if !ok {
			return fmt.Errorf("bad histogram quantile %q", tok)
		}
		pct, err := strconv.ParseFloat(string(q[1:]), 64)
		if err != nil {
			return fmt.Errorf("bad histogram quantile %q", tok)
		}
		v, err := strconv.ParseFloat(string(cum), 64)
		if err != nil || v != v {
			continue // "nan": no data in that window
		}
		setQuantile(acc, pct, v)
	}
	return nil
}

// setQuantile records the computed quantile pct (in percent) of a cluster's request time.
func setQuantile(acc *clusterAcc, pct, v float64) {
	switch pct {
	case 50:
		acc.p50 = v
	case 99:
		acc.p99 = v
	}
}
