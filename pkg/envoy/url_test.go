package envoy

import (
	"net/url"
	"regexp"
	"testing"
)

func TestStatsFilter(t *testing.T) {
	src := regexp.MustCompile(StatsFilter(Query{Host: reviews, Side: Source}))
	dst := regexp.MustCompile(StatsFilter(Query{Host: reviews, Side: Destination}))
	tests := map[string]struct {
		name     string
		src, dst bool
	}{
		"istio metric":          {"istio_requests_total", true, true},
		"istio text name":       {"reporter=.=destination;.;istio_request_duration_milliseconds", true, true},
		"subset cluster with ;": {"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_2xx", true, false},
		"subset cluster no ;":   {"cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_completed", true, false},
		"plain cluster":         {"cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_2xx", false, false},
		"other host":            {"cluster.outbound|9080|v1|reviewsXdefault.svc.cluster.local.upstream_rq_2xx", false, false},
		"other stat":            {"cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_cx_total", false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := src.MatchString(tc.name); got != tc.src {
				t.Errorf("source filter match = %v, want %v", got, tc.src)
			}
			if got := dst.MatchString(tc.name); got != tc.dst {
				t.Errorf("destination filter match = %v, want %v", got, tc.dst)
			}
		})
	}
	u, err := url.Parse(StatsURL("http://10.0.0.1:15090/stats/prometheus", Query{Host: reviews, Side: Source}))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Query()["usedonly"]; !ok || u.Query().Get("filter") != StatsFilter(Query{Host: reviews, Side: Source}) {
		t.Errorf("StatsURL query = %v", u.Query())
	}
}
