package envoy

import (
	"bytes"
	"fmt"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// promPrefixes are the metric-name prefixes of every family sluice reads from /stats/prometheus.
var (
	promPrefixes    = []string{"envoy_cluster_upstream_rq", "istio_request"}
	clusterPrefixes = promPrefixes[:1]
	istioPrefixes   = promPrefixes[1:]
)

// istioFilter selects istio_requests_total / istio_request_duration_* series.
type istioFilter struct {
	host string // destination_service; "" matches all
	dest map[string]*istioAcc
	src  map[string]*istioAcc
	used bool // as clusterAcc.used
}

// promAgg folds the samples of a /stats/prometheus page into cluster and Istio accumulators.
type promAgg struct {
	clusters *clusterSet
	istio    *istioFilter
}

// The scans of Parse: only the families and labels promAgg reads.
var (
	sourceSpec      = scanSpec{prefixes: promPrefixes, family: promFamily, onlyRead: true}
	destinationSpec = scanSpec{prefixes: istioPrefixes, family: istioFamily, onlyRead: true}
)

// istioFamily reports whether name is one of Istio's standard metrics promAgg reads.
func istioFamily(name []byte) bool {
	switch string(name) {
	case "istio_requests_total",
		"istio_request_duration_milliseconds_bucket", "istio_request_duration_milliseconds_sum", "istio_request_duration_milliseconds_count",
		"istio_request_duration_seconds_bucket", "istio_request_duration_seconds_sum", "istio_request_duration_seconds_count":
		return true
	}
	return false
}

// promFamily reports whether promAgg reads metric name on the caller side.
func promFamily(name []byte) bool {
	return bytes.HasPrefix(name, []byte(clusterPrefixes[0])) || istioFamily(name)
}

// readLabel reports whether promAgg looks at label name.
func readLabel(name []byte) bool {
	switch string(name) {
	case "cluster_name", "envoy_cluster_name", "response_code_class", "envoy_response_code_class",
		"response_code", "envoy_response_code", "le",
		"destination_service", "reporter", "destination_version", "grpc_response_status":
		return true
	}
	return false
}

func parsePrometheus(data []byte, q Query) (Report, error) {
	istio := &istioFilter{host: q.Host, dest: map[string]*istioAcc{}, src: map[string]*istioAcc{}}
	keep, spec := keepHost(q.Host), sourceSpec
	if q.Side != Source {
		spec = destinationSpec
	}
	clusters, _, err := scanPrometheusStatsWith(data, spec, keep, istio)
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

// scanPrometheusStats accumulates the cluster stats of a /stats/prometheus page.
func scanPrometheusStats(data []byte, keep func([]byte) bool) (*clusterSet, *istioFilter, error) {
	return scanPrometheusStatsWith(data, scanSpec{prefixes: clusterPrefixes, onlyRead: true}, keep, nil)
}

func scanPrometheusStatsWith(data []byte, spec scanSpec, keep func([]byte) bool, istio *istioFilter) (*clusterSet, *istioFilter, error) {
	agg := promAgg{clusters: newClusterSet(keep), istio: istio}
	if err := scanPrometheusWith(data, spec, agg.add); err != nil {
		return nil, nil, err
	}
	return agg.clusters, istio, nil
}

func (a *promAgg) add(s *sample) error {
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
func (a *promAgg) addCluster(s *sample, rest []byte) error {
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
		return addHistSample(&acc.hist, s, rest[len("_time_"):], 1)
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

// addHistSample adds a _bucket, _sum or _count sample (kind) to h, scaling bounds and sum to ms.
func addHistSample(h *histAcc, s *sample, kind []byte, scale float64) error {
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

// istioSeries returns the accumulator a sample of Istio's standard metrics belongs to, or nil.
func (a *promAgg) istioSeries(s *sample) *istioAcc {
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
	acc.used = true
	return acc
}

func (a *promAgg) addIstioRequests(s *sample) error {
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

func (a *promAgg) addIstioDuration(s *sample, kind []byte, scale float64) error {
	acc := a.istioSeries(s)
	if acc == nil {
		return nil
	}
	return addHistSample(&acc.hist, s, kind, scale)
}
