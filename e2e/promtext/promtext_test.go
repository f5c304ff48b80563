package promtext

import (
	"bufio"
	"strings"
	"testing"
)

func TestHistogram(t *testing.T) {
	var h Histogram
	for _, ms := range []uint64{0, 1, 5, 6, 25, 3600000, 3600001} {
		h.Observe(ms)
	}
	var o Histogram
	o.Observe(5)
	h.Add(o)
	want := map[int]uint64{0: 1, 1: 1, 2: 2, 3: 1, 4: 1, 18: 1, 19: 1} // a bound counts in its own bucket
	for i, n := range h.Buckets {
		if n != want[i] {
			t.Errorf("bucket %d (le %v): %d, want %d", i, bound(i), n, want[i])
		}
	}
	if h.Count != 8 || h.SumMs != 0+1+5+6+25+3600000+3600001+5 {
		t.Errorf("count %d sum %d", h.Count, h.SumMs)
	}
	c := h.Clone()
	c.Observe(1)
	if h.Buckets[1] != 1 {
		t.Error("a clone shares its buckets")
	}
}

func bound(i int) any {
	if i < len(DurationBuckets) {
		return DurationBuckets[i]
	}
	return "+Inf"
}

func TestWrite(t *testing.T) {
	var h Histogram
	h.Observe(7)
	h.Observe(4000000)
	tests := map[string]struct {
		write func(bw *bufio.Writer)
		want  string
		// prefix: want is only the output's beginning.
		prefix bool
	}{
		"labels escaped": {
			write: func(bw *bufio.Writer) {
				WriteSample(bw, "x_total", Labels([2]string{"a", `q"\` + "\n"}, [2]string{"b", "2"}), 3)
			},
			want: `x_total{a="q\"\\\n",b="2"} 3` + "\n",
		},
		"no labels": {
			write: func(bw *bufio.Writer) { WriteSample(bw, "envoy_server_live", "", 1) },
			want:  "envoy_server_live{} 1\n",
		},
		"histogram, le last": {
			write: func(bw *bufio.Writer) { WriteHistogram(bw, "t", `cluster_name="c"`, h) },
			want: `t_bucket{cluster_name="c",le="0.5"} 0
t_bucket{cluster_name="c",le="1"} 0
t_bucket{cluster_name="c",le="5"} 0
t_bucket{cluster_name="c",le="10"} 1
t_bucket{cluster_name="c",le="25"} 1
t_bucket{cluster_name="c",le="50"} 1
t_bucket{cluster_name="c",le="100"} 1
t_bucket{cluster_name="c",le="250"} 1
t_bucket{cluster_name="c",le="500"} 1
t_bucket{cluster_name="c",le="1000"} 1
t_bucket{cluster_name="c",le="2500"} 1
t_bucket{cluster_name="c",le="5000"} 1
t_bucket{cluster_name="c",le="10000"} 1
t_bucket{cluster_name="c",le="30000"} 1
t_bucket{cluster_name="c",le="60000"} 1
t_bucket{cluster_name="c",le="300000"} 1
t_bucket{cluster_name="c",le="600000"} 1
t_bucket{cluster_name="c",le="1800000"} 1
t_bucket{cluster_name="c",le="3600000"} 1
t_bucket{cluster_name="c",le="+Inf"} 2
t_sum{cluster_name="c"} 4000007
t_count{cluster_name="c"} 2
`,
		},
		"empty histogram without labels": {
			write:  func(bw *bufio.Writer) { WriteHistogram(bw, "t", "", Histogram{}) },
			want:   "t_bucket{le=\"0.5\"} 0\n",
			prefix: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			bw := bufio.NewWriter(&b)
			tc.write(bw)
			bw.Flush()
			got := b.String()
			if tc.prefix && strings.HasPrefix(got, tc.want) {
				return
			}
			if got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestRequestLabelOrder checks the order against the captured Istio 1.11 page.
func TestRequestLabelOrder(t *testing.T) {
	got := Request{ResponseCode: 200, Reporter: "destination", SourceWorkload: "istio-ingressgateway",
		SourceNamespace: "istio-system", DestinationService: "reviews", DestinationNamespace: "default",
		DestinationWorkload: "reviews-v2", DestinationApp: "reviews", DestinationVersion: "v2",
		DestinationCanonicalService: "reviews", DestinationCanonicalRevision: "v2",
		Protocol: "http", ResponseFlags: "-"}.String()
	want := `response_code="200",reporter="destination",source_workload="istio-ingressgateway",` +
		`source_workload_namespace="istio-system",source_principal="unknown",source_app="istio-ingressgateway",` +
		`source_version="unknown",source_cluster="Kubernetes",destination_workload="reviews-v2",` +
		`destination_workload_namespace="default",destination_principal="unknown",destination_app="reviews",` +
		`destination_version="v2",destination_service="reviews.default.svc.cluster.local",` +
		`destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",` +
		`request_protocol="http",response_flags="-",grpc_response_status="",connection_security_policy="none",` +
		`source_canonical_service="istio-ingressgateway",destination_canonical_service="reviews",` +
		`source_canonical_revision="latest",destination_canonical_revision="v2"`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
