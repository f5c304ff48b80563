package envoy

// The Prometheus-text parser as it was before the fast path (commit bc8e6dc, promscan.go and
// promstats.go), kept verbatim but renamed as the reference of FuzzPrometheusDifferential.
// It shares the accumulators (accumulate.go), parseNumber and the byte classes, which the
// fast path did not change.

import (
	"bytes"
	"fmt"

	"github.com/sluicedev/sluice/pkg/traffic"
)

var (
	oldPromPrefixes    = []string{"envoy_cluster_upstream_rq", "istio_request"}
	oldClusterPrefixes = oldPromPrefixes[:1]
	oldIstioPrefixes   = oldPromPrefixes[1:]
)

type oldPromAgg struct {
	clusters *clusterSet
	istio    *istioFilter
}

// oldLabelSpan is one label of a oldSample; name and value alias the page, value still escaped.
type oldLabelSpan struct {
	name, value []byte
	escaped     bool
}

// oldSample is one Prometheus oldSample line. Its slices alias the page and are reused per line.
type oldSample struct {
	name   []byte
	labels []oldLabelSpan
	value  float64
}

// label returns the unescaped value of label name. It allocates only when the value has escapes.
func (s *oldSample) label(name string) ([]byte, bool) {
	for i := range s.labels {
		l := &s.labels[i]
		if string(l.name) == name {
			if l.escaped {
				return unescapeLabel(l.value), true
			}
			return l.value, true
		}
	}
	return nil, false
}

// oldScanPrometheus calls fn for every oldSample line whose metric name starts with one of
// prefixes (all lines when prefixes is nil). Other lines are skipped after a prefix check,
// without allocating; a line that cannot be a oldSample or comment is an error.
func oldScanPrometheus(data []byte, prefixes []string, fn func(*oldSample) error) error {
	s := oldSample{labels: make([]oldLabelSpan, 0, 32)}
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if !isNameStart(line[0]) {
			line = bytes.TrimLeft(line, " \t\r")
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if !isNameStart(line[0]) {
				return fmt.Errorf("parsing prometheus stats: line %d: not a sample or comment", lineNo)
			}
		}
		if prefixes != nil && !oldHasAnyPrefix(line, prefixes) {
			continue
		}
		if err := oldParseSample(line, &s); err != nil {
			return fmt.Errorf("parsing prometheus stats: line %d: %w", lineNo, err)
		}
		if err := fn(&s); err != nil {
			return fmt.Errorf("parsing prometheus stats: line %d: %w", lineNo, err)
		}
	}
	return nil
}

func oldHasAnyPrefix(line []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if len(line) >= len(p) && line[0] == p[0] && string(line[:len(p)]) == p {
			return true
		}
	}
	return false
}

// oldParseSample parses `name{l="v",…} value [timestamp]` into s.
func oldParseSample(line []byte, s *oldSample) error {
	n := promNameLen(line)
	s.name = line[:n]
	s.labels = s.labels[:0]
	i := skipBlank(line, n)
	if i < len(line) && line[i] == '{' {
		var err error
		if i, err = oldParseLabels(line, i+1, s); err != nil {
			return err
		}
		i = skipBlank(line, i)
	} else if i == n {
		return errNoValue
	}
	j := i
	for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' {
		j++
	}
	if j == i {
		return errNoValue
	}
	v, err := parseNumber(line[i:j])
	if err != nil {
		return err
	}
	s.value = v
	return nil
}

// oldParseLabels parses the label pairs after '{' at i and returns the index after '}'.
func oldParseLabels(line []byte, i int, s *oldSample) (int, error) {
	for {
		i = skipBlank(line, i)
		if i >= len(line) {
			return 0, errUnterminated
		}
		if line[i] == '}' {
			return i + 1, nil
		}
		if !isLabelStart(line[i]) {
			return 0, errBadLabel
		}
		j := i + 1
		for j < len(line) && isLabelChar(line[j]) {
			j++
		}
		name := line[i:j]
		i = skipBlank(line, j)
		if i >= len(line) || line[i] != '=' {
			return 0, errBadLabel
		}
		i = skipBlank(line, i+1)
		if i >= len(line) || line[i] != '"' {
			return 0, errBadLabel
		}
		i++
		start, esc := i, false
		for i < len(line) && line[i] != '"' {
			if line[i] == '\\' {
				esc = true
				i++
			}
			i++
		}
		if i >= len(line) {
			return 0, errUnterminated
		}
		if len(s.labels) == maxLabels {
			return 0, errTooMany
		}
		s.labels = append(s.labels, oldLabelSpan{name: name, value: line[start:i], escaped: esc})
		i = skipBlank(line, i+1)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i < len(line) && line[i] == '}' {
			return i + 1, nil
		}
		return 0, errUnterminated
	}
}

func oldParsePrometheus(data []byte, q Query) (Report, error) {
	istio := &istioFilter{host: q.Host, dest: map[string]*istioAcc{}, src: map[string]*istioAcc{}}
	keep, prefixes := keepHost(q.Host), oldPromPrefixes
	if q.Side != Source {
		prefixes = oldIstioPrefixes
	}
	clusters, _, err := oldScanPrometheusStatsWith(data, prefixes, keep, istio)
	if err != nil {
		return Report{}, err
	}
	if q.Side == Source {
		if r := clusterReport(clusters, q); len(r.Subsets) > 0 {
			r.GRPCFailuresIn2xx = grpcIn2xx(istio.src)
			return r, nil
		}
		return istioReport(istio.src, nil), nil
	}
	return istioReport(istio.dest, nil), nil
}

// oldScanPrometheusStats accumulates the cluster stats of a /stats/prometheus page.
func oldScanPrometheusStats(data []byte, keep func([]byte) bool) (*clusterSet, *istioFilter, error) {
	return oldScanPrometheusStatsWith(data, oldClusterPrefixes, keep, nil)
}

func oldScanPrometheusStatsWith(data []byte, prefixes []string, keep func([]byte) bool, istio *istioFilter) (*clusterSet, *istioFilter, error) {
	agg := oldPromAgg{clusters: newClusterSet(keep), istio: istio}
	if err := oldScanPrometheus(data, prefixes, agg.add); err != nil {
		return nil, nil, err
	}
	return agg.clusters, istio, nil
}

func (a *oldPromAgg) add(s *oldSample) error {
	name := s.name
	if rest, ok := bytes.CutPrefix(name, []byte("envoy_cluster_upstream_rq")); ok {
		return a.addCluster(s, rest)
	}
	if a.istio == nil {
		return nil
	}
	switch string(name) {
	case "istio_requests_total":
		return a.addIstioRequests(s)
	case "istio_request_duration_milliseconds_bucket", "istio_request_duration_milliseconds_sum",
		"istio_request_duration_milliseconds_count":
		return a.addIstioDuration(s, name[len("istio_request_duration_milliseconds_"):], 1)
	case "istio_request_duration_seconds_bucket", "istio_request_duration_seconds_sum",
		"istio_request_duration_seconds_count":
		return a.addIstioDuration(s, name[len("istio_request_duration_seconds_"):], 1000)
	}
	return nil
}

// addCluster handles envoy_cluster_upstream_rq<rest>.
func (a *oldPromAgg) addCluster(s *oldSample, rest []byte) error {
	cluster, ok := s.label("cluster_name")
	if !ok {
		if cluster, ok = s.label("envoy_cluster_name"); !ok {
			return nil
		}
	}
	acc := a.clusters.get(cluster)
	if acc == nil {
		return nil
	}
	switch string(rest) {
	case "", "_xx":
		v, err := toCount(s.value)
		if err != nil {
			return err
		}
		if c, ok := s.label("response_code_class"); ok {
			acc.addClass(srcClassLabel, classOf(c), v)
		} else if c, ok := s.label("envoy_response_code_class"); ok {
			acc.addClass(srcClassLabel, classOf(c), v)
		} else if c, ok := s.label("response_code"); ok && len(rest) == 0 {
			acc.addClass(srcCodeLabel, classOf(c), v)
		} else if c, ok := s.label("envoy_response_code"); ok && len(rest) == 0 {
			acc.addClass(srcCodeLabel, classOf(c), v)
		}
		return nil
	case "_time_bucket", "_time_sum", "_time_count":
		return oldAddHistSample(&acc.hist, s, rest[len("_time_"):], 1)
	}
	if len(rest) > 1 && rest[0] == '_' {
		v, err := toCount(s.value)
		if err != nil {
			return err
		}
		acc.addRqStat(rest[1:], v)
	}
	return nil
}

// oldAddHistSample adds a _bucket, _sum or _count oldSample (kind) to h, scaling bounds and sum to ms.
func oldAddHistSample(h *histAcc, s *oldSample, kind []byte, scale float64) error {
	switch string(kind) {
	case "sum":
		h.sum += s.value * scale
		return nil
	case "count":
		v, err := toCount(s.value)
		if err != nil {
			return err
		}
		h.count += v
		return nil
	}
	le, ok := s.label("le")
	if !ok {
		return fmt.Errorf("histogram bucket %s without le", s.name)
	}
	bound, err := parseNumber(le)
	if err != nil {
		return fmt.Errorf("histogram bucket %s: %w", s.name, err)
	}
	v, err := toCount(s.value)
	if err != nil {
		return err
	}
	h.addBucket(bound*scale, v)
	return nil
}

// istioSeries returns the accumulator a oldSample of Istio's standard metrics belongs to, or nil.
func (a *oldPromAgg) istioSeries(s *oldSample) *istioAcc {
	if a.istio.host != "" {
		svc, ok := s.label("destination_service")
		if !ok || string(svc) != a.istio.host {
			return nil
		}
	}
	reporter, _ := s.label("reporter")
	var m map[string]*istioAcc
	switch string(reporter) {
	case "destination":
		m = a.istio.dest
	case "source":
		m = a.istio.src
	default:
		return nil
	}
	version, _ := s.label("destination_version")
	acc, ok := m[string(version)]
	if !ok {
		acc = &istioAcc{}
		m[string(version)] = acc
	}
	return acc
}

func (a *oldPromAgg) addIstioRequests(s *oldSample) error {
	acc := a.istioSeries(s)
	if acc == nil {
		return nil
	}
	v, err := toCount(s.value)
	if err != nil {
		return err
	}
	code, _ := s.label("response_code")
	class := classOf(code)
	if class == 2 {
		if g, ok := s.label("grpc_response_status"); ok && traffic.GRPCServerFailure(string(g)) {
			class = 5
			acc.grpcIn2xx += v
		}
	}
	acc.byClass[class] += v
	return nil
}

func (a *oldPromAgg) addIstioDuration(s *oldSample, kind []byte, scale float64) error {
	acc := a.istioSeries(s)
	if acc == nil {
		return nil
	}
	return oldAddHistSample(&acc.hist, s, kind, scale)
}
