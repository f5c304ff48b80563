package standin

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicedev/sluice/e2e/promtext"
)

const fixtureMerged = "../../testdata/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt"

var reviewsV2 = workload{Namespace: "default", Service: "reviews", Workload: "reviews-v2", App: "reviews", Version: "v2", CanonicalService: "reviews", CanonicalRevision: "v2"}

func parsePage(t *testing.T, page []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		t.Fatalf("parsing our page: %v\n%s", err, page)
	}
	return fams
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// labelNames returns the label names of a sample line in their order.
var labelNameRE = regexp.MustCompile(`[{,]([a-zA-Z_][a-zA-Z0-9_]*)="`)

func labelNames(line string) []string {
	var out []string
	for _, m := range labelNameRE.FindAllStringSubmatch(line, -1) {
		out = append(out, m[1])
	}
	return out
}

func firstLine(t *testing.T, page []byte, prefix string) string {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(page))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return sc.Text()
		}
	}
	t.Fatalf("no line starting with %q", prefix)
	return ""
}

func TestLabelOrderMatchesIstioFixture(t *testing.T) {
	fixture, err := os.ReadFile(fixtureMerged)
	if err != nil {
		t.Fatal(err)
	}
	s := newPodStats(reviewsV2)
	s.record(200, 3)
	var page bytes.Buffer
	if err := s.writePrometheus(&page); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"istio_requests_total{", "istio_request_duration_milliseconds_bucket{", "istio_request_duration_milliseconds_sum{", "istio_request_duration_milliseconds_count{"} {
		t.Run(prefix, func(t *testing.T) {
			want := labelNames(firstLine(t, fixture, prefix))
			got := labelNames(firstLine(t, page.Bytes(), prefix))
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("label order\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestExposition(t *testing.T) {
	type obs struct {
		code int
		ms   float64
	}
	tests := map[string]struct {
		obs []obs
	}{
		"no requests yet": {},
		"one ok":          {obs: []obs{{200, 3}}},
		"ok and errors, edge latencies": {obs: []obs{
			{200, 0}, {200, 0.4}, {200, 0.6}, {200, 1}, {503, 5}, {503, 2500}, {200, 1e7}, {200, 49.5}, {503, 50.4},
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newPodStats(reviewsV2)
			wantCount := map[string]uint64{}
			wantSum := map[string]float64{}
			for _, o := range tc.obs {
				s.record(o.code, o.ms)
				code := strconv.Itoa(o.code)
				wantCount[code]++
				wantSum[code] += math.Round(o.ms)
			}
			var page bytes.Buffer
			if err := s.writePrometheus(&page); err != nil {
				t.Fatal(err)
			}
			fams := parsePage(t, page.Bytes())
			if b := fams["istio_build"]; b == nil || b.GetType() != dto.MetricType_GAUGE {
				t.Errorf("istio_build gauge missing")
			}
			reqs, hist := fams["istio_requests_total"], fams["istio_request_duration_milliseconds"]
			if len(tc.obs) == 0 {
				if reqs != nil || hist != nil {
					t.Fatalf("families without requests: %v %v", reqs, hist)
				}
				return
			}
			if reqs.GetType() != dto.MetricType_COUNTER || hist.GetType() != dto.MetricType_HISTOGRAM {
				t.Fatalf("types: %v %v", reqs.GetType(), hist.GetType())
			}
			if len(reqs.GetMetric()) != len(wantCount) || len(hist.GetMetric()) != len(wantCount) {
				t.Fatalf("series: %d counters, %d histograms, want %d", len(reqs.GetMetric()), len(hist.GetMetric()), len(wantCount))
			}
			for _, m := range reqs.GetMetric() {
				l := labelMap(m)
				checkIdentity(t, l)
				if got := uint64(m.GetCounter().GetValue()); got != wantCount[l["response_code"]] {
					t.Errorf("code %s: counter %d, want %d", l["response_code"], got, wantCount[l["response_code"]])
				}
			}
			for _, m := range hist.GetMetric() {
				l := labelMap(m)
				checkIdentity(t, l)
				h := m.GetHistogram()
				code := l["response_code"]
				if h.GetSampleCount() != wantCount[code] || h.GetSampleSum() != wantSum[code] {
					t.Errorf("code %s: count %d sum %v, want %d %v", code, h.GetSampleCount(), h.GetSampleSum(), wantCount[code], wantSum[code])
				}
				bk := h.GetBucket()
				if len(bk) != len(promtext.DurationBuckets)+1 {
					t.Fatalf("%d buckets, want %d and +Inf", len(bk), len(promtext.DurationBuckets))
				}
				if inf := bk[len(bk)-1]; !math.IsInf(inf.GetUpperBound(), 1) || inf.GetCumulativeCount() != h.GetSampleCount() {
					t.Errorf("last bucket le=%v has %d, want +Inf with the count %d", inf.GetUpperBound(), inf.GetCumulativeCount(), h.GetSampleCount())
				}
				var prev uint64
				for i, b := range bk {
					if i < len(promtext.DurationBuckets) && b.GetUpperBound() != promtext.DurationBuckets[i] {
						t.Errorf("bucket %d bound %v, want %v", i, b.GetUpperBound(), promtext.DurationBuckets[i])
					}
					if b.GetCumulativeCount() < prev {
						t.Errorf("bucket le=%v: %d < previous %d", b.GetUpperBound(), b.GetCumulativeCount(), prev)
					}
					prev = b.GetCumulativeCount()
					var want uint64
					for _, o := range tc.obs {
						if strconv.Itoa(o.code) == code && math.Round(o.ms) <= b.GetUpperBound() {
							want++
						}
					}
					if prev != want {
						t.Errorf("code %s bucket le=%v: %d, want %d", code, b.GetUpperBound(), prev, want)
					}
				}
			}
			if !strings.Contains(page.String(), `le="+Inf"} `) {
				t.Errorf("no +Inf bucket line")
			}
		})
	}
}

func checkIdentity(t *testing.T, l map[string]string) {
	t.Helper()
	want := map[string]string{
		"reporter": "destination", "destination_workload": "reviews-v2", "destination_app": "reviews",
		"destination_version": "v2", "destination_service": "reviews.default.svc.cluster.local",
		"destination_service_name": "reviews", "destination_service_namespace": "default",
		"source_workload": "istio-ingressgateway", "grpc_response_status": "", "response_flags": "-",
	}
	for k, v := range want {
		if got, ok := l[k]; !ok && v != "" || got != v {
			t.Errorf("label %s=%q, want %q", k, got, v)
		}
	}
}

func TestCountersOnlyGrow(t *testing.T) {
	s := newPodStats(reviewsV2)
	var last float64
	for i := range 5 {
		for range i * 7 {
			s.record(200, 12)
		}
		var page bytes.Buffer
		if err := s.writePrometheus(&page); err != nil {
			t.Fatal(err)
		}
		fams := parsePage(t, page.Bytes())
		var got float64
		if f := fams["istio_requests_total"]; f != nil {
			got = f.GetMetric()[0].GetCounter().GetValue()
		}
		if got < last {
			t.Fatalf("scrape %d: counter went from %v to %v", i, last, got)
		}
		if want := float64(7 * i * (i + 1) / 2); got != want {
			t.Fatalf("scrape %d: counter %v, want %v", i, got, want)
		}
		last = got
	}
}

func TestLabelEscaping(t *testing.T) {
	id := reviewsV2
	id.Version = "a\"b\\c\nd"
	s := newPodStats(id)
	s.record(200, 1)
	var page bytes.Buffer
	if err := s.writePrometheus(&page); err != nil {
		t.Fatal(err)
	}
	fams := parsePage(t, page.Bytes())
	if got := labelMap(fams["istio_requests_total"].GetMetric()[0])["destination_version"]; got != id.Version {
		t.Errorf("destination_version round-trips as %q, want %q", got, id.Version)
	}
}
