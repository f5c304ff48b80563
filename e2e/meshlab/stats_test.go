package meshlab

import (
	"io"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

const testHost = "reviews.meshlab.svc.cluster.local"

// callerCall is one call attempt a caller records.
type callerCall struct {
	cluster string
	code    int
	d       time.Duration
	grpc    codes.Code
}

func TestCallerStatsParse(t *testing.T) {
	type call = callerCall
	tests := map[string]struct {
		calls []call
		want  map[string]traffic.Counts // subset → counts (Requests, Rq2xx, Rq5xx, Latency.Count)
		// wantGRPC is GRPCFailuresIn2xx: the gRPC failures Envoy's cluster stats count as 200.
		wantGRPC map[string]uint64
	}{
		"gRPC failures answered by the backend are 200 in the cluster stats": {
			calls: []call{
				{"outbound|9080|v2|" + testHost, 200, time.Millisecond, codes.OK},
				{"outbound|9080|v2|" + testHost, 200, time.Millisecond, codes.Internal},
				{"outbound|9080|v2|" + testHost, 200, time.Millisecond, codes.Internal},
				{"outbound|9080|v2|" + testHost, 200, time.Millisecond, codes.NotFound},
				{"outbound|9080|v2|" + testHost, 503, time.Millisecond, codes.Unavailable},
			},
			want:     map[string]traffic.Counts{"v2": {Requests: 5, Rq2xx: 4, Rq5xx: 1, Latency: traffic.Histogram{Count: 5}}},
			wantGRPC: map[string]uint64{"v2": 2},
		},
		"split with errors": {
			calls: []call{
				{"outbound|9080|v1|" + testHost, 200, 3 * time.Millisecond, codes.OK},
				{"outbound|9080|v1|" + testHost, 200, 30 * time.Millisecond, codes.OK},
				{"outbound|9080|v2|" + testHost, 503, time.Millisecond, codes.Unavailable},
				{"outbound|9080|v2|" + testHost, 200, 2 * time.Second, codes.OK},
				{"outbound|9080|v2|other.meshlab.svc.cluster.local", 503, time.Millisecond, codes.Unavailable},
			},
			want: map[string]traffic.Counts{
				"v1": {Requests: 2, Rq2xx: 2, Latency: traffic.Histogram{Count: 2}},
				"v2": {Requests: 2, Rq2xx: 1, Rq5xx: 1, Latency: traffic.Histogram{Count: 2}},
			},
		},
		"timeouts are 5xx": {
			calls: []call{{"outbound|9080|v3|" + testHost, 504, time.Second, codes.DeadlineExceeded}},
			want:  map[string]traffic.Counts{"v3": {Requests: 1, Rq5xx: 1, Latency: traffic.Histogram{Count: 1}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &Caller{}
			for _, k := range tc.calls {
				c.stats.record(callerKey{cluster: k.cluster, code: k.code, grpcStatus: k.grpc}, k.d, time.Now())
			}
			rec := httptest.NewRecorder()
			c.serveStats(rec, httptest.NewRequest("GET", "/stats/prometheus", nil))
			page, _ := io.ReadAll(rec.Body)
			rep, err := envoy.Parse(page, envoy.Query{Host: testHost, Side: envoy.Source})
			if err != nil {
				t.Fatalf("parsing %s: %v", page, err)
			}
			assertCounts(t, rep, tc.want, page)
			if !maps.Equal(rep.GRPCFailuresIn2xx, tc.wantGRPC) {
				t.Errorf("GRPCFailuresIn2xx = %v, want %v\npage:\n%s", rep.GRPCFailuresIn2xx, tc.wantGRPC, page)
			}
			// The lab's own count of failures agrees with what sluice makes of the page.
			var errs uint64
			for _, cc := range c.Counts() {
				errs += cc.Errors
			}
			var parsed uint64
			for _, sc := range rep.MoveGRPCFailures(nil).Subsets {
				parsed += sc.Rq5xx
			}
			if other := otherHostErrors(tc.calls); errs-other != parsed {
				t.Errorf("Counts() has %d failures to %s, the page %d", errs-other, testHost, parsed)
			}
		})
	}
}

// otherHostErrors counts the failed calls in calls that went to another host than testHost.
func otherHostErrors(calls []callerCall) uint64 {
	var n uint64
	for _, c := range calls {
		if !strings.HasSuffix(c.cluster, "|"+testHost) && failed(c.code, c.grpc) {
			n++
		}
	}
	return n
}

func TestBackendStatsParse(t *testing.T) {
	tests := map[string]struct {
		keys []destKey
		want map[string]traffic.Counts
	}{
		"ok and unavailable": {
			keys: []destKey{{code: 200}, {code: 200}, {code: 503, grpcStatus: codes.Unavailable}},
			want: map[string]traffic.Counts{"v2": {Requests: 3, Rq2xx: 2, Rq5xx: 1, Latency: traffic.Histogram{Count: 3}}},
		},
		"gRPC failures the app answered: 200 with a grpc_response_status": {
			keys: []destKey{{code: 200}, {code: 200, grpcStatus: codes.Internal}, {code: 200, grpcStatus: codes.InvalidArgument}},
			want: map[string]traffic.Counts{"v2": {Requests: 3, Rq2xx: 2, Rq5xx: 1, Latency: traffic.Histogram{Count: 3}}},
		},
		"no calls": {want: map[string]traffic.Counts{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := &Backend{ID: Workload{Namespace: "meshlab", Service: "reviews", App: "reviews", Version: "v2", Name: "reviews-v2-0"}}
			for _, k := range tc.keys {
				k.sourceWorkload, k.sourceNs = "gateway-0", "meshlab"
				b.stats.record(k, 7*time.Millisecond, time.Now())
			}
			rec := httptest.NewRecorder()
			b.serveStats(rec, httptest.NewRequest("GET", "/stats/prometheus", nil))
			page, _ := io.ReadAll(rec.Body)
			rep, err := envoy.Parse(page, envoy.Query{Host: testHost, Side: envoy.Destination})
			if err != nil {
				t.Fatalf("parsing %s: %v", page, err)
			}
			assertCounts(t, rep, tc.want, page)
			if req, errs := b.Served(); req != uint64(len(tc.keys)) || errs != tc.want["v2"].Rq5xx {
				t.Errorf("Served() = %d, %d", req, errs)
			}
		})
	}
}

func assertCounts(t *testing.T, rep envoy.Report, want map[string]traffic.Counts, page []byte) {
	t.Helper()
	got := map[string]traffic.Counts{}
	for s, c := range rep.Subsets {
		got[s] = traffic.Counts{Requests: c.Requests, Rq2xx: c.Rq2xx, Rq5xx: c.Rq5xx, Latency: traffic.Histogram{Count: c.Latency.Count}}
	}
	if !maps.EqualFunc(got, want, func(a, b traffic.Counts) bool {
		return a.Requests == b.Requests && a.Rq2xx == b.Rq2xx && a.Rq5xx == b.Rq5xx && a.Latency.Count == b.Latency.Count
	}) {
		t.Errorf("parsed %+v, want %+v\npage:\n%s", got, want, page)
	}
}
