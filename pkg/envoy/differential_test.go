package envoy

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// diffQueries are the queries FuzzPrometheusDifferential compares the parsers on.
var diffQueries = []Query{
	{Host: reviews, Side: Destination},
	{Host: reviews, Side: Source},
	{Side: Destination},
	{Side: Source},
}

// readFamily reports whether the fast parser reads the samples of metric name on side
// (for ParseClusters, clustersOnly): the old parser parsed every line of a name starting
// with envoy_cluster_upstream_rq or istio_request, the new one only the families it uses.
// Written out here, not taken from promscan.go, so the test does not trust the code it checks.
func readFamily(name string, side Side, clustersOnly bool) bool {
	if strings.HasPrefix(name, "envoy_cluster_upstream_rq") {
		return side == Source || clustersOnly
	}
	if clustersOnly {
		return false
	}
	switch name {
	case "istio_requests_total",
		"istio_request_duration_milliseconds_bucket", "istio_request_duration_milliseconds_sum", "istio_request_duration_milliseconds_count",
		"istio_request_duration_seconds_bucket", "istio_request_duration_seconds_sum", "istio_request_duration_seconds_count":
		return true
	}
	return false
}

var errLine = regexp.MustCompile(`^parsing prometheus stats: line (\d+): `)

// skippedLine returns the line number err names (0 if none) and whether that line is a
// sample line of a family the new parser does not read.
func skippedLine(data []byte, err error, side Side, clustersOnly bool) (int, bool) {
	m := errLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	n, _ := strconv.Atoi(m[1])
	lines := bytes.Split(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return 0, false
	}
	line := bytes.TrimLeft(lines[n-1], " \t\r")
	if len(line) == 0 || !isNameStart(line[0]) {
		return n, false
	}
	return n, !readFamily(string(line[:promNameLen(line)]), side, clustersOnly)
}

// sameOutcome checks one comparison of the old and new parser: the same result when the
// old one succeeds; when it fails, the same error, unless the old error is on a line the
// new parser skips (it no longer validates families it does not read), in which case the
// new parser may succeed with any result, or fail on a later line.
func sameOutcome(t *testing.T, data []byte, what string, side Side, clustersOnly bool, oldOut, newOut string, oldErr, newErr error) {
	t.Helper()
	if oldErr == nil {
		if newErr != nil {
			t.Fatalf("%s: old parser succeeded, new failed: %v", what, newErr)
		}
		if oldOut != newOut {
			t.Fatalf("%s: reports differ:\nold %s\nnew %s", what, oldOut, newOut)
		}
		return
	}
	if newErr != nil && newErr.Error() == oldErr.Error() {
		return
	}
	n, skipped := skippedLine(data, oldErr, side, clustersOnly)
	if !skipped {
		t.Fatalf("%s: old error %q, new error %v", what, oldErr, newErr)
	}
	if newErr != nil {
		if m, ok := skippedLine(data, newErr, side, clustersOnly); m <= n || ok {
			t.Fatalf("%s: old error %q on a skipped line, new error %q not on a later read line", what, oldErr, newErr)
		}
	}
}

func reportString(r Report) string { return fmt.Sprintf("%#v %#v", r.Subsets, r.GRPCFailuresIn2xx) }

func clustersString(s *clusterSet) string {
	if s == nil {
		return "<nil>"
	}
	out := map[string]traffic.Counts{}
	for name, a := range s.m {
		out[name] = a.counts(nil)
	}
	return fmt.Sprintf("%#v", out)
}

// checkDifferential compares the fast Prometheus-text parser with the old one on data.
func checkDifferential(t *testing.T, data []byte) {
	for _, q := range diffQueries {
		oldR, oldErr := oldParsePrometheus(data, q)
		newR, newErr := parsePrometheus(data, q)
		sameOutcome(t, data, fmt.Sprintf("parsePrometheus %+v", q), q.Side, false, reportString(oldR), reportString(newR), oldErr, newErr)
	}
	oldS, _, oldErr := oldScanPrometheusStats(data, nil)
	newS, _, newErr := scanPrometheusStats(data, nil)
	sameOutcome(t, data, "scanPrometheusStats", Source, true, clustersString(oldS), clustersString(newS), oldErr, newErr)
}

// diffSeeds are hand-written pages for the cases the fast path treats specially.
var diffSeeds = []string{
	// escapes, duplicate labels (the first counts), blanks, \r, timestamps.
	"istio_requests_total{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v\\\"1\\\\\",response_code=\"200\"} 3 1700000000\n",
	"istio_requests_total{ reporter = \"source\" , reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",response_code=\"503\",} 7\r\n",
	"istio_requests_total{reporter=\"source\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",response_code=\"200\",grpc_response_status=\"14\"} 9\n",
	// a malformed line of a family the new parser skips, before and after a good one.
	"istio_request_bytes_bucket{reporter=\"destination\",le=\"1\" 3\nistio_requests_total{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",response_code=\"200\"} 1\n",
	"istio_requests_total{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",response_code=\"200\"} 1\nistio_request_bytes_sum{reporter=\"destination\"} x\nistio_requests_total{bad 1\n",
	// histograms in ms and s, +Inf, NaN and Inf values.
	"istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",le=\"5\"} 2\n" +
		"istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",le=\"+Inf\"} 4\n" +
		"istio_request_duration_seconds_sum{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\"} NaN\n" +
		"istio_request_duration_seconds_count{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\"} +Inf\n",
	// cluster stats by class and code, label and name forms.
	"envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=\"outbound|9080|v1|reviews.default.svc.cluster.local\"} 10\n" +
		"envoy_cluster_upstream_rq{envoy_response_code=\"503\",envoy_cluster_name=\"outbound|9080|v2|reviews.default.svc.cluster.local\"} 2\n" +
		"envoy_cluster_upstream_rq_5xx{cluster_name=\"outbound|9080|v2|reviews.default.svc.cluster.local\"} 1\n" +
		"envoy_cluster_upstream_rq_completed{cluster_name=\"outbound|9080|v2|reviews.default.svc.cluster.local\"} 5\n" +
		"envoy_cluster_upstream_rq_time_bucket{cluster_name=\"outbound|9080|v2|reviews.default.svc.cluster.local\",le=\"0.5\"} 5\n",
	// found by the fuzzer: an error on a skipped line, then one on a non-sample line.
	"00", "istio_request\n0",
	"  # comment\n\t\nistio_requests_total 4\nistio_request_bytes_count{} 5\nnot a line\n",
	// lines sharing label prefixes (labelMemo): escapes and duplicates in the prefix, a
	// difference in the last-but-one label, a labelless line between, a bad tail after a
	// matching prefix.
	memoSeries(`reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v\\1",reporter="source"`, `le="1"`, `le="+Inf"`) +
		memoSeries(`reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v2"`, `le="1"`, `le="5"`) +
		"istio_request_duration_milliseconds_count 3\n" +
		memoSeries(`reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v3",x="1"`, `le="1"`, `le="5"`),
	memoSeries(`reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1"`, `le="1"`, `le="5",`) +
		"istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v1\",le=\"7\" 1\n",
	memoSeries(`reporter="destination",destination_service="reviews.default.svc.cluster.local",destination_version="v1"`, `le="1"`, `le="5"`) +
		"istio_request_duration_milliseconds_bucket{reporter=\"destination\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v2\",le=\"5\"} 1\n",
}

// memoSeries is a histogram series with labels common, one bucket per bound label in les,
// a _sum and a _count line.
func memoSeries(common string, les ...string) string {
	var b strings.Builder
	for i, le := range les {
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,%s} %d\n", common, le, i+1)
	}
	fmt.Fprintf(&b, "istio_request_duration_milliseconds_sum{%s} 12.5\n", common)
	fmt.Fprintf(&b, "istio_request_duration_milliseconds_count{%s} %d\n", common, len(les))
	return b.String()
}

func addDifferentialSeeds(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add([]byte(s))
	}
	addFixtureSeeds(f)
}

func TestPrometheusDifferentialSeeds(t *testing.T) {
	pages := append([]string{}, diffSeeds...)
	for _, name := range fixtureFiles {
		pages = append(pages, string(readFixture(t, name)))
	}
	for i, p := range pages {
		t.Run(strconv.Itoa(i), func(t *testing.T) { checkDifferential(t, []byte(p)) })
	}
}

// FuzzPrometheusDifferential checks the fast Prometheus-text parser against the old one
// (oldparse_test.go) on arbitrary input: see sameOutcome.
func FuzzPrometheusDifferential(f *testing.F) {
	addDifferentialSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) { checkDifferential(t, data) })
}
