// Package envoy reads Envoy and Istio proxy statistics and configuration into sluice's per-subset traffic model (package traffic).
package envoy

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// Side says whose view of the traffic a report takes.
type Side int

const (
	// Destination is the subset pod's own inbound view: istio_requests_total{reporter="destination"}.
	Destination Side = iota
	// Source is the caller's view: its outbound|PORT|SUBSET|HOST cluster stats, or
	// istio_requests_total{reporter="source"} when it has none for the host.
	Source
)

// String returns the flag spelling of the side.
func (s Side) String() string {
	switch s {
	case Destination:
		return "destination"
	case Source:
		return "source"
	}
	return fmt.Sprintf("Side(%d)", int(s))
}

// Query selects what Parse extracts from a page.
type Query struct {
	// Host is the Service FQDN, e.g. reviews.default.svc.cluster.local.
	Host string
	// Side is the view to report.
	Side Side
}

// Format is one of the output formats of Envoy's admin interface.
type Format int

const (
	// FormatUnknown is anything that is not a recognised Envoy/Istio page.
	FormatUnknown Format = iota
	// FormatPrometheus is /stats/prometheus (Prometheus text exposition).
	FormatPrometheus
	// FormatText is Envoy's admin /stats text (`name: value`).
	FormatText
	// FormatJSON is /stats?format=json.
	FormatJSON
	// FormatConfigDump is /config_dump.
	FormatConfigDump
)

// String names the format.
func (f Format) String() string {
	switch f {
	case FormatPrometheus:
		return "prometheus"
	case FormatText:
		return "text"
	case FormatJSON:
		return "json"
	case FormatConfigDump:
		return "config_dump"
	}
	return "unknown"
}

// ErrUnknownFormat is returned for input that is not a recognised stats page.
var ErrUnknownFormat = errors.New("not an Envoy/Istio stats page or config dump")

// Detect guesses the format of data from its first meaningful bytes.
func Detect(data []byte) Format {
	data = skipSpace(data)
	if len(data) == 0 {
		return FormatUnknown
	}
	if data[0] == '{' {
		head := data[:min(len(data), 4096)]
		switch {
		case bytes.Contains(head, []byte(`"configs"`)):
			return FormatConfigDump
		case bytes.Contains(head, []byte(`"stats"`)):
			return FormatJSON
		}
		return FormatUnknown
	}
	if data[0] == '#' {
		return FormatPrometheus
	}
	line := data
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if len(line) == 0 || !isPrintable(line) {
		return FormatUnknown
	}
	if isNameStart(line[0]) {
		n := promNameLen(line)
		if n < len(line) && (line[n] == '{' || line[n] == ' ' || line[n] == '\t') {
			return FormatPrometheus
		}
	}
	if i := bytes.Index(line, []byte(": ")); i > 0 && !bytes.ContainsAny(line[:i], " {\t\"") {
		return FormatText
	}
	if bytes.HasSuffix(line, []byte(":")) && !bytes.ContainsAny(line, " {\t\"") {
		return FormatText
	}
	return FormatUnknown
}

// Parse auto-detects the format of data and returns cumulative per-subset counts for q.Host.
func Parse(data []byte, q Query) (Report, error) {
	switch f := Detect(data); f {
	case FormatPrometheus:
		return parsePrometheus(data, q)
	case FormatText:
		return parseText(data, q)
	case FormatJSON:
		return parseJSON(data, q)
	case FormatConfigDump:
		return Report{}, fmt.Errorf("parsing stats: got a %s, not a stats page", f)
	}
	return Report{}, fmt.Errorf("parsing stats: %w", ErrUnknownFormat)
}

// ParseClusters auto-detects the format of a stats page and returns the request counts of
// every upstream cluster it names, keyed by cluster name (Istio's ';' suffix removed).
func ParseClusters(data []byte) (map[string]traffic.Counts, error) {
	var (
		acc *clusterSet
		err error
	)
	switch f := Detect(data); f {
	case FormatPrometheus:
		acc, _, err = scanPrometheusStats(data, nil)
	case FormatText:
		acc, err = scanText(data, nil)
	case FormatJSON:
		acc, err = scanJSON(data, nil)
	case FormatConfigDump:
		return nil, fmt.Errorf("parsing cluster stats: got a %s, not a stats page", f)
	default:
		return nil, fmt.Errorf("parsing cluster stats: %w", ErrUnknownFormat)
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]traffic.Counts, len(acc.m))
	for name, a := range acc.m {
		out[name] = a.counts(nil)
	}
	return out, nil
}

// clusterReport turns the accumulated outbound clusters of q.Host into a subset report.
func clusterReport(acc *clusterSet, q Query) Report {
	r := Report{Subsets: map[string]traffic.Counts{}}
	for name, a := range acc.m {
		subset, host, ok := splitOutbound(name)
		if !ok || host != q.Host || subset == "" {
			continue
		}
		r.Subsets[subset] = addCounts(r.Subsets[subset], a.counts(nil))
	}
	return r
}

// addCounts adds b into a (two clusters of one subset on different ports).
func addCounts(a, b traffic.Counts) traffic.Counts {
	a.Requests += b.Requests
	a.Rq2xx += b.Rq2xx
	a.Rq3xx += b.Rq3xx
	a.Rq4xx += b.Rq4xx
	a.Rq5xx += b.Rq5xx
	a.Latency = mergeHistogram(a.Latency, b.Latency)
	a.P50 = max(a.P50, b.P50)
	a.P99 = max(a.P99, b.P99)
	return a
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
