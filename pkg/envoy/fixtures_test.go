package envoy

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sluicedev/sluice/pkg/traffic"
)

const fixtureDir = "../../testdata/envoy"

var fixtureFiles = []string{
	"istio-1.5-sidecar-stats-prometheus.txt",
	"istio-1.11-sidecar-merged-stats-prometheus.txt",
	"istio-1.1-mixer-mesh-prometheus.txt",
	"envoy-stats-prometheus.txt",
	"istio-0.x-sidecar-stats-text.txt",
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return b
}

// seriesSum sums the samples of metric whose labels include every pair of want.
func seriesSum(t *testing.T, data []byte, metric string, want map[string]string) (n int, sum float64) {
	t.Helper()
	err := scanPrometheus(data, []string{metric}, func(s *sample) error {
		if string(s.name) != metric {
			return nil
		}
		for k, v := range want {
			if got, ok := s.label(k); !ok || string(got) != v {
				return nil
			}
		}
		n++
		sum += s.value
		return nil
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", metric, err)
	}
	return n, sum
}

func TestFixtureFormats(t *testing.T) {
	want := map[string]Format{
		"istio-1.5-sidecar-stats-prometheus.txt":         FormatPrometheus,
		"istio-1.11-sidecar-merged-stats-prometheus.txt": FormatPrometheus,
		"istio-1.1-mixer-mesh-prometheus.txt":            FormatPrometheus,
		"envoy-stats-prometheus.txt":                     FormatPrometheus,
		"istio-0.x-sidecar-stats-text.txt":               FormatText,
	}
	for name, f := range want {
		t.Run(name, func(t *testing.T) {
			if got := Detect(readFixture(t, name)); got != f {
				t.Errorf("Detect = %v, want %v", got, f)
			}
		})
	}
}

func TestFixtureClusters(t *testing.T) {
	tests := map[string]struct {
		file string
		want map[string]traffic.Counts // only the listed clusters are checked
	}{
		"istio 1.5 xds-grpc (non-contiguous family)": {
			file: "istio-1.5-sidecar-stats-prometheus.txt",
			want: map[string]traffic.Counts{"xds-grpc": {Requests: 3, Rq2xx: 2, Rq5xx: 1}},
		},
		"istio 1.11 merged xds-grpc": {
			file: "istio-1.11-sidecar-merged-stats-prometheus.txt",
			want: map[string]traffic.Counts{"xds-grpc": {Requests: 1, Rq2xx: 1}},
		},
		"plain envoy (rq_xx and response_code series, external_ ignored)": {
			file: "envoy-stats-prometheus.txt",
			want: map[string]traffic.Counts{
				"service1": {Requests: 1, Rq2xx: 1, Latency: traffic.Histogram{
					Bounds: []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000},
					Counts: []uint64{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
					Count:  1, Sum: 72.5,
				}},
				"xds_cluster": {Requests: 22, Rq2xx: 22},
			},
		},
		"istio 0.x text rds": {
			file: "istio-0.x-sidecar-stats-text.txt",
			want: map[string]traffic.Counts{"rds": {Requests: 124769, Rq2xx: 123577, Rq5xx: 1192}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseClusters(readFixture(t, tc.file))
			if err != nil {
				t.Fatalf("ParseClusters: %v", err)
			}
			for cluster, want := range tc.want {
				c, ok := got[cluster]
				if !ok {
					t.Fatalf("cluster %q missing; have %d clusters", cluster, len(got))
				}
				if c.Latency.Count == 0 && want.Latency.Count == 0 {
					c.Latency = traffic.Histogram{}
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("cluster %q = %+v, want %+v", cluster, c, want)
				}
			}
		})
	}
}

func TestFixtureService2Counts(t *testing.T) {
	got, err := ParseClusters(readFixture(t, "envoy-stats-prometheus.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if c := got["service2"]; c.Requests != 1 || c.Rq2xx != 1 {
		t.Errorf("service2 = %+v, want 1 request, 1 2xx", c)
	}
}

func TestFixtureReports(t *testing.T) {
	tests := map[string]struct {
		file string
		q    Query
		want map[string]traffic.Counts // Latency compared by Count and Sum only
	}{
		"istio 1.11 reviews destination": {
			file: "istio-1.11-sidecar-merged-stats-prometheus.txt",
			q:    Query{Host: "reviews.default.svc.cluster.local", Side: Destination},
			want: map[string]traffic.Counts{"v1": {Requests: 1, Rq2xx: 1, Latency: traffic.Histogram{Count: 1, Sum: 1050}}},
		},
		"istio 1.1 mixer reviews destination (seconds → ms)": {
			file: "istio-1.1-mixer-mesh-prometheus.txt",
			q:    Query{Host: "reviews.default.svc.cluster.local", Side: Destination},
			want: map[string]traffic.Counts{
				"v1": {Requests: 2, Rq2xx: 2, Latency: traffic.Histogram{Count: 2, Sum: 14.587849}},
				"v2": {Requests: 2, Rq2xx: 2, Latency: traffic.Histogram{Count: 2, Sum: 23.689173}},
				"v3": {Requests: 3, Rq2xx: 3, Latency: traffic.Histogram{Count: 3, Sum: 63.415168}},
			},
		},
		"istio 1.5 source falls back to reporter=source istio_requests_total": {
			file: "istio-1.5-sidecar-stats-prometheus.txt",
			q:    Query{Host: "repo.mongodb.org", Side: Source},
			// 200 → 8, 304 → 1, 404 → 2; durations: 15326.5/8 + 27.5/1 + 125/2.
			want: map[string]traffic.Counts{"unknown": {Requests: 11, Rq2xx: 8, Rq3xx: 1, Rq4xx: 2, Latency: traffic.Histogram{Count: 11, Sum: 15479}}},
		},
		"istio 1.5 reviews: v1 cluster has no request stats, no source series": {
			file: "istio-1.5-sidecar-stats-prometheus.txt",
			q:    Query{Host: "reviews.default.svc.cluster.local", Side: Source},
			want: map[string]traffic.Counts{},
		},
		"istio 1.5 destination has no destination series": {
			file: "istio-1.5-sidecar-stats-prometheus.txt",
			q:    Query{Host: "repo.mongodb.org", Side: Destination},
			want: map[string]traffic.Counts{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := Parse(readFixture(t, tc.file), tc.q)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(r.Subsets) != len(tc.want) {
				t.Fatalf("subsets = %v, want %d", keys(r.Subsets), len(tc.want))
			}
			for s, want := range tc.want {
				got := r.Subsets[s]
				if got.Requests != want.Requests || got.Rq2xx != want.Rq2xx || got.Rq3xx != want.Rq3xx ||
					got.Rq4xx != want.Rq4xx || got.Rq5xx != want.Rq5xx ||
					got.Latency.Count != want.Latency.Count || !near(got.Latency.Sum, want.Latency.Sum) {
					t.Errorf("subset %q = %+v, want %+v", s, got, want)
				}
			}
		})
	}
}

func TestFixture1_5IstioRequests(t *testing.T) {
	data := readFixture(t, "istio-1.5-sidecar-stats-prometheus.txt")
	n, sum := seriesSum(t, data, "istio_requests_total", nil)
	nSrc, _ := seriesSum(t, data, "istio_requests_total", map[string]string{"reporter": "source"})
	if n != 7 || sum != 67 || nSrc != 7 {
		t.Errorf("istio_requests_total: %d series sum %v (%d source), want 7, 67, 7", n, sum, nSrc)
	}
	// Source side without cluster stats for the host uses reporter="source" by destination_version.
	var total, errs uint64
	for _, host := range []string{"repo.mongodb.org", "security.ubuntu.com", "archive.ubuntu.com"} {
		r, err := Parse(data, Query{Host: host, Side: Source})
		if err != nil {
			t.Fatal(err)
		}
		total += r.Total().Requests
		errs += r.Total().Rq5xx
	}
	_, hostsSum := seriesSum(t, data, "istio_requests_total", map[string]string{"reporter": "source"})
	if errs != 0 || float64(total) > hostsSum || total == 0 {
		t.Errorf("source fallback: %d requests, %d 5xx; page has %v", total, errs, hostsSum)
	}

	// The 200 latency series of repo.mongodb.org, as listed in SOURCES.md.
	h := histAcc{}
	err := scanPrometheus(data, []string{"istio_request_duration_milliseconds_"}, func(s *sample) error {
		svc, _ := s.label("destination_service")
		code, _ := s.label("response_code")
		if string(svc) != "repo.mongodb.org" || string(code) != "200" {
			return nil
		}
		return addHistSample(&h, s, s.name[bytes.LastIndexByte(s.name, '_')+1:], 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	got := h.histogram(nil)
	want := map[float64]uint64{50: 0, 100: 3, 250: 4, 2500: 6, 5000: 7, 10000: 8}
	for i, b := range got.Bounds {
		if w, ok := want[b]; ok && got.Counts[i] != w {
			t.Errorf("bucket le=%v = %d, want %d", b, got.Counts[i], w)
		}
	}
	if got.Sum != 15326.5 || got.Count != 8 {
		t.Errorf("sum, count = %v, %d; want 15326.5, 8", got.Sum, got.Count)
	}
}

func TestFixtureSeriesFacts(t *testing.T) {
	tests := map[string]struct {
		file, metric string
		labels       map[string]string
		n            int
		sum          float64
	}{
		"1.5 xds-grpc upstream_rq_total": {"istio-1.5-sidecar-stats-prometheus.txt", "envoy_cluster_upstream_rq_total", map[string]string{"cluster_name": "xds-grpc"}, 1, 2},
		"1.5 subset v1 of reviews":       {"istio-1.5-sidecar-stats-prometheus.txt", "envoy_cluster_client_ssl_socket_factory_ssl_context_update_by_sds", map[string]string{"cluster_name": "outbound|9080|v1|reviews.default.svc.cluster.local"}, 1, 2},
		"1.11 istio_build":               {"istio-1.11-sidecar-merged-stats-prometheus.txt", "istio_build", map[string]string{"component": "proxy", "tag": "1.11.4"}, 1, 1},
		"1.1 29 istio_requests_total":    {"istio-1.1-mixer-mesh-prometheus.txt", "istio_requests_total", nil, 29, -1},
		"envoy service1 rq_time sum":     {"envoy-stats-prometheus.txt", "envoy_cluster_upstream_rq_time_sum", map[string]string{"envoy_cluster_name": "service1"}, 1, 72.5},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n, sum := seriesSum(t, readFixture(t, tc.file), tc.metric, tc.labels)
			if n != tc.n || (tc.sum >= 0 && sum != tc.sum) {
				t.Errorf("got %d series sum %v, want %d sum %v", n, sum, tc.n, tc.sum)
			}
		})
	}
}

func TestFixtureMixerNo5xxAndPermissiveTrap(t *testing.T) {
	data := readFixture(t, "istio-1.1-mixer-mesh-prometheus.txt")
	var n5xx int
	err := scanPrometheus(data, []string{"istio_requests_total"}, func(s *sample) error {
		code, _ := s.label("response_code")
		if classOf(code) == 5 {
			n5xx++
		}
		if pc, _ := s.label("permissive_response_code"); string(pc) != "none" || string(code) == "none" {
			t.Errorf("label lookup confused response_code=%q with permissive_response_code=%q", code, pc)
		}
		return nil
	})
	if err != nil || n5xx != 0 {
		t.Errorf("5xx series = %d, err = %v; want 0", n5xx, err)
	}
}

func TestFixtureTextFacts(t *testing.T) {
	data := readFixture(t, "istio-0.x-sidecar-stats-text.txt")
	if bytes.Contains(data, []byte(": P0(")) {
		t.Error("fixture unexpectedly has histogram lines")
	}
	got, err := ParseClusters(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["out.httpbin.datadog.svc.cluster.local|http"]; !ok {
		t.Errorf("cluster with '|' in its name missing")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-9*max(1, abs(a), abs(b)) && -d < 1e-9*max(1, abs(a), abs(b))
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
