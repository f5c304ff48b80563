package envoy

import (
	"reflect"
	"testing"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// Modern Envoy admin /stats text, per Envoy's documented format: counters `name: value`,
// histograms `name: P0(interval,cumulative) …`. Istio's alt_stat_name adds ';' after the
// cluster name; other builds do not.
const textWithSemicolon = `cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_2xx: 95
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_200: 95
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_5xx: 5
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_503: 5
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_completed: 100
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_total: 101
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.external.upstream_rq_2xx: 95
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.internal.upstream_rq_5xx: 5
cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_time: P0(nan,1) P25(nan,2.05) P50(nan,4.1) P75(nan,8) P90(nan,12) P95(nan,20) P99(nan,48.5) P99.5(nan,60) P99.9(nan,90) P100(nan,120)
cluster.outbound|9080|v2|reviews.default.svc.cluster.local;.upstream_rq_4xx: 2
cluster.outbound|9080|v2|reviews.default.svc.cluster.local;.upstream_rq_completed: 2
cluster.outbound|9080|v2|reviews.default.svc.cluster.local;.upstream_rq_time: No recorded values
cluster.outbound|9080||reviews.default.svc.cluster.local;.upstream_rq_2xx: 1000
server.version: 
server.live: 1
http.inbound_0.0.0.0_9080;.downstream_rq_2xx: 12
`

const textWithoutSemicolon = `cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_2xx: 95
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_5xx: 5
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_503: 5
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_completed: 100
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.external.upstream_rq_2xx: 95
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.canary.upstream_rq_2xx: 3
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.zone.us-east-1a.us-east-1b.upstream_rq_2xx: 7
cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_time: P0(1,1) P25(2,2.05) P50(4,4.1) P75(8,8) P90(12,12) P95(20,20) P99(48,48.5) P99.9(90,90) P100(120,120)
cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_4xx: 2
cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_completed: 2
`

func TestParseText(t *testing.T) {
	want := map[string]traffic.Counts{
		"v1": {Requests: 100, Rq2xx: 95, Rq5xx: 5, P50: 4.1, P99: 48.5},
		"v2": {Requests: 2, Rq4xx: 2},
	}
	tests := map[string]string{
		"with ';' (Istio alt_stat_name)": textWithSemicolon,
		"without ';'":                    textWithoutSemicolon,
	}
	for name, page := range tests {
		t.Run(name, func(t *testing.T) {
			if f := Detect([]byte(page)); f != FormatText {
				t.Fatalf("Detect = %v", f)
			}
			r, err := Parse([]byte(page), Query{Host: reviews, Side: Source})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Subsets, want) {
				t.Errorf("Parse = %+v\nwant    %+v", r.Subsets, want)
			}
		})
	}
}

func TestSplitClusterStat(t *testing.T) {
	tests := map[string]struct {
		name, cluster, stat string
		ok                  bool
	}{
		"istio ;":        {"cluster.outbound|80|v1|a.b;.upstream_rq_2xx", "outbound|80|v1|a.b", "upstream_rq_2xx", true},
		"istio ; scoped": {"cluster.outbound|80|v1|a.b;.external.upstream_rq_2xx", "", "", false},
		"plain":          {"cluster.rds.upstream_rq_2xx", "rds", "upstream_rq_2xx", true},
		"plain dotted":   {"cluster.outbound|80|v1|a.b.upstream_rq_2xx", "outbound|80|v1|a.b", "upstream_rq_2xx", true},
		"internal":       {"cluster.rds.internal.upstream_rq_2xx", "", "", false},
		"zone":           {"cluster.rds.zone.a.b.upstream_rq_2xx", "", "", false},
		"not cluster":    {"http.x.downstream_rq_2xx", "", "", false},
		"no stat":        {"cluster.rds", "", "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, s, ok := splitClusterStat([]byte(tc.name))
			if ok != tc.ok || (ok && (string(c) != tc.cluster || string(s) != tc.stat)) {
				t.Errorf("split = %q %q %v, want %q %q %v", c, s, ok, tc.cluster, tc.stat, tc.ok)
			}
		})
	}
}

// JSON /stats?format=json per Envoy's documented shape; supported_quantiles is read at
// run time (10 in current Envoy, 9 in older ones) and interval may be null.
func jsonPageWith(quantiles, values string) string {
	return `{"stats":[
 {"name":"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_2xx","value":40},
 {"name":"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_200","value":40},
 {"name":"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_5xx","value":10},
 {"name":"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_completed","value":50},
 {"name":"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.internal.upstream_rq_5xx","value":10},
 {"name":"server.version","value":"1.30.0"},
 {"histograms":{"supported_quantiles":` + quantiles + `,
  "computed_quantiles":[
   {"name":"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_time","values":` + values + `},
   {"name":"http.inbound.downstream_rq_time","values":[]}]}}]}`
}

func TestParseJSON(t *testing.T) {
	tests := map[string]struct {
		page string
		want traffic.Counts
	}{
		"10 quantiles, interval null": {
			page: jsonPageWith(`[0,25,50,75,90,95,99,99.5,99.9,100]`,
				`[{"interval":null,"cumulative":1},{"interval":null,"cumulative":2},{"interval":null,"cumulative":3.5},{"interval":null,"cumulative":4},{"interval":null,"cumulative":5},{"interval":null,"cumulative":6},{"interval":null,"cumulative":77.25},{"interval":null,"cumulative":80},{"interval":null,"cumulative":90},{"interval":null,"cumulative":100}]`),
			want: traffic.Counts{Requests: 50, Rq2xx: 40, Rq5xx: 10, P50: 3.5, P99: 77.25},
		},
		"9 quantiles, with intervals": {
			page: jsonPageWith(`[0,25,50,75,90,95,99,99.9,100]`,
				`[{"interval":1,"cumulative":1},{"interval":2,"cumulative":2},{"interval":3,"cumulative":3.5},{"interval":4,"cumulative":4},{"interval":5,"cumulative":5},{"interval":6,"cumulative":6},{"interval":70,"cumulative":77.25},{"interval":90,"cumulative":90},{"interval":100,"cumulative":100}]`),
			want: traffic.Counts{Requests: 50, Rq2xx: 40, Rq5xx: 10, P50: 3.5, P99: 77.25},
		},
		"no recorded values": {
			page: jsonPageWith(`[0,25,50,75,90,95,99,99.5,99.9,100]`, `[{"interval":null,"cumulative":null}]`),
			want: traffic.Counts{Requests: 50, Rq2xx: 40, Rq5xx: 10},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if f := Detect([]byte(tc.page)); f != FormatJSON {
				t.Fatalf("Detect = %v", f)
			}
			r, err := Parse([]byte(tc.page), Query{Host: reviews, Side: Source})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Subsets["v1"]; len(r.Subsets) != 1 || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse = %+v, want v1 = %+v", r.Subsets, tc.want)
			}
		})
	}
}
