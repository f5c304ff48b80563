package source

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/sluicedev/sluice/pkg/traffic"
)

func sample(v float64, labels ...string) *model.Sample {
	m := model.Metric{}
	for i := 0; i+1 < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func TestRequestCountsAndLatency(t *testing.T) {
	d := DefaultQueries
	tests := map[string]struct {
		q       Queries
		reqs    model.Vector
		buckets model.Vector
		sums    model.Vector
		want    map[string]traffic.Counts
		wantErr string
	}{
		"codes by class, other codes in Requests only": {
			q: d,
			reqs: model.Vector{
				sample(10, "destination_version", "v1", "response_code", "200"),
				sample(2, "destination_version", "v1", "response_code", "302"),
				sample(3, "destination_version", "v1", "response_code", "404"),
				sample(4, "destination_version", "v1", "response_code", "503"),
				sample(5, "destination_version", "v1", "response_code", "0"),
				sample(1, "destination_version", "v1", "response_code", "20x"),
				sample(6, "destination_version", "v2", "response_code", "200"),
			},
			want: map[string]traffic.Counts{
				"v1": {Requests: 25, Rq2xx: 10, Rq3xx: 2, Rq4xx: 3, Rq5xx: 4},
				"v2": {Requests: 6, Rq2xx: 6},
			},
		},
		"gRPC failures answered with HTTP 200 count as 5xx": {
			q: d,
			reqs: model.Vector{
				sample(80, "destination_version", "v2", "response_code", "200", "grpc_response_status", "0"),
				sample(7, "destination_version", "v2", "response_code", "200", "grpc_response_status", "13"),
				sample(2, "destination_version", "v2", "response_code", "200", "grpc_response_status", "4"),
				sample(5, "destination_version", "v2", "response_code", "200", "grpc_response_status", "5"),
				sample(1, "destination_version", "v2", "response_code", "503", "grpc_response_status", "14"),
				sample(9, "destination_version", "v1", "response_code", "200", "grpc_response_status", ""),
			},
			want: map[string]traffic.Counts{
				"v2": {Requests: 95, Rq2xx: 85, Rq5xx: 10},
				"v1": {Requests: 9, Rq2xx: 9},
			},
		},
		"buckets sorted, +Inf is Count, non-monotonic repaired, unit scaled": {
			q:    Queries{SubsetLabel: "destination_version", CodeLabel: "response_code", LatencyUnit: 1000},
			reqs: model.Vector{sample(9, "destination_version", "v1", "response_code", "200")},
			buckets: model.Vector{
				sample(9, "destination_version", "v1", "le", "+Inf"),
				sample(5, "destination_version", "v1", "le", "0.1"),
				sample(2, "destination_version", "v1", "le", "0.01"),
				sample(4, "destination_version", "v1", "le", "0.05"), // less than le=0.01's…
				sample(1, "destination_version", "v1", "le", "0.005"),
			},
			sums: model.Vector{sample(0.5, "destination_version", "v1"), sample(3, "destination_version", "v9")},
			want: map[string]traffic.Counts{"v1": {Requests: 9, Rq2xx: 9, Latency: traffic.Histogram{
				Bounds: []float64{5, 10, 50, 100}, Counts: []uint64{1, 2, 4, 5}, Count: 9, Sum: 500}}},
		},
		"a decreasing bucket is lifted to the one below": {
			q:    d,
			reqs: model.Vector{},
			buckets: model.Vector{
				sample(3, "destination_version", "v1", "le", "1"),
				sample(2, "destination_version", "v1", "le", "10"),
			},
			want: map[string]traffic.Counts{"v1": {Latency: traffic.Histogram{Bounds: []float64{1, 10}, Counts: []uint64{3, 3}, Count: 3}}},
		},
		"negative counter":  {q: d, reqs: model.Vector{sample(-1, "destination_version", "v1")}, wantErr: "not a count"},
		"NaN counter":       {q: d, reqs: model.Vector{sample(math.NaN(), "destination_version", "v1")}, wantErr: "not a count"},
		"bucket without le": {q: d, reqs: model.Vector{}, buckets: model.Vector{sample(1, "destination_version", "v1")}, wantErr: `bad "le"`},
		"infinite sum": {q: d, reqs: model.Vector{sample(1, "destination_version", "v1")},
			sums: model.Vector{sample(math.Inf(1), "destination_version", "v1")}, wantErr: "not a duration sum"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := requestCounts(tc.reqs, tc.q)
			if err == nil {
				err = addLatency(got, tc.buckets, tc.q)
			}
			if err == nil {
				err = addLatencySum(got, tc.sums, tc.q)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestQueries(t *testing.T) {
	tests := map[string]struct {
		q       Queries
		host    string
		want    string // rendered Requests query
		wantErr string
	}{
		"defaults": {host: reviews,
			want: `sum by (destination_version, response_code, grpc_response_status) (istio_requests_total{reporter="destination",destination_service="reviews.default.svc.cluster.local"})`},
		"host is escaped": {q: Queries{Requests: `x{a="{{.Host}}"}`}, host: `a"b\c`, want: `x{a="a\"b\\c"}`},
		"bad template":    {q: Queries{Requests: `x{a="{{.Host"}`}, wantErr: "parsing PromQL template"},
		"unknown field":   {q: Queries{Requests: `x{a="{{.Pod}}"}`}, wantErr: "executing PromQL template"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.q.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := render(tc.q.withDefaults().Requests, QueryArgs{Host: promEscape(tc.host)})
			if err != nil || got != tc.want {
				t.Errorf("rendered %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzPromConvert feeds arbitrary label values and sample values through the PromQL
// result conversion: it must never panic, and what it accepts must be a sane histogram.
func FuzzPromConvert(f *testing.F) {
	for _, s := range []struct {
		code, le string
		v        float64
	}{{"200", "+Inf", 3}, {"503", "0.5", 1}, {"0", "2500", 1e6}, {"", "1e400", 0}, {"2xx", "-Inf", 2}, {"5", "NaN", math.MaxFloat64}} {
		f.Add("v1", s.code, s.le, s.v, s.le, s.v/2)
	}
	f.Fuzz(func(t *testing.T, subset, code, le1 string, v1 float64, le2 string, v2 float64) {
		q := DefaultQueries
		reqs := model.Vector{sample(v1, "destination_version", subset, "response_code", code)}
		counts, err := requestCounts(reqs, q)
		if err != nil {
			return
		}
		c := counts[subset]
		if c.Rq2xx+c.Rq3xx+c.Rq4xx+c.Rq5xx > c.Requests {
			t.Fatalf("classes exceed requests: %+v", c)
		}
		buckets := model.Vector{sample(v1, "destination_version", subset, "le", le1), sample(v2, "destination_version", subset, "le", le2)}
		if err := addLatency(counts, buckets, q); err != nil {
			return
		}
		h := counts[subset].Latency
		if len(h.Bounds) != len(h.Counts) {
			t.Fatalf("bounds/counts mismatch: %+v", h)
		}
		for i := range h.Counts {
			if i > 0 && (h.Counts[i] < h.Counts[i-1] || !(h.Bounds[i] > h.Bounds[i-1])) {
				t.Fatalf("histogram not ascending: %+v", h)
			}
			if h.Counts[i] > h.Count {
				t.Fatalf("bucket above Count: %+v", h)
			}
		}
	})
}
