package envoy

import (
	"maps"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/sluicedev/sluice/pkg/traffic"
)

func TestCallerStatsFilter(t *testing.T) {
	all := regexp.MustCompile(CallerStatsFilter)
	tests := map[string]struct {
		name string
		want bool
	}{
		"istio metric":                 {"istio_requests_total", true},
		"istio text name":              {"reporter=.=source;.;istio_request_duration_milliseconds", true},
		"subset cluster with ;":        {"cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_2xx", true},
		"subset cluster no ;":          {"cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_completed", true},
		"another host's subset":        {"cluster.outbound|443|canary|api.example.com;.upstream_rq_503", true},
		"request time histogram":       {"cluster.outbound|9080|v1|ratings.prod.svc.cluster.local;.upstream_rq_time", true},
		"cluster without subset":       {"cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_2xx", false},
		"other stat of a subset":       {"cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_cx_total", false},
		"inbound cluster":              {"cluster.inbound|9080||.upstream_rq_2xx", false},
		"control-plane cluster":        {"cluster.xds-grpc.upstream_rq_2xx", false},
		"listener stat":                {"listener.0.0.0.0_15006.downstream_cx_total", false},
		"server stat":                  {"server.concurrency", false},
		"http connection manager stat": {"http.inbound_0.0.0.0_9080.downstream_rq_2xx", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := all.MatchString(tc.name); got != tc.want {
				t.Errorf("match %q = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
	// Whatever the caller side's filter for one host keeps, the host-independent one keeps.
	for _, host := range []string{reviews, "ratings.prod.svc.cluster.local", "api.example.com", "a"} {
		one := regexp.MustCompile(StatsFilter(Query{Host: host, Side: Source}))
		for _, tc := range tests {
			if one.MatchString(tc.name) && !all.MatchString(tc.name) {
				t.Errorf("%q: kept by the filter for %s, dropped by CallerStatsFilter", tc.name, host)
			}
		}
	}
}

func TestCallerStatsURL(t *testing.T) {
	for endpoint, wantPath := range map[string]string{
		"http://10.0.0.1:15090/stats/prometheus":          "/stats/prometheus",
		"http://10.0.0.1:15000/stats?format=json":         "/stats",
		"http://[fd00::1]:15090/stats/prometheus?foo=bar": "/stats/prometheus",
	} {
		u, err := url.Parse(CallerStatsURL(endpoint))
		if err != nil {
			t.Fatalf("%s: %v", endpoint, err)
		}
		q := u.Query()
		if _, ok := q["usedonly"]; !ok || q.Get("filter") != CallerStatsFilter || u.Path != wantPath {
			t.Errorf("CallerStatsURL(%s) = %s: path %q, query %v", endpoint, u, u.Path, q)
		}
	}
}

// gatewayPage is an ingress gateway's host-independent page: two subsets of reviews on two
// ports (with gRPC failures in its Istio series), ratings known only from Istio's source
// series, details only from destination series, productpage only without a subset.
const gatewayPage = `# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 90
envoy_cluster_upstream_rq{response_code_class="5xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9090|v1|reviews.default.svc.cluster.local"} 5
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 7
envoy_cluster_upstream_rq{response_code_class="4xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 3
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080||productpage.default.svc.cluster.local"} 1000
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="xds-grpc"} 4
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200",grpc_response_status="14"} 2
istio_requests_total{reporter="source",destination_service="ratings.default.svc.cluster.local",destination_version="v1",response_code="200"} 4
istio_requests_total{reporter="source",destination_service="ratings.default.svc.cluster.local",destination_version="v2",response_code="503"} 1
istio_requests_total{reporter="destination",destination_service="details.default.svc.cluster.local",destination_version="v1",response_code="200"} 8
istio_requests_total{reporter="source",destination_service="",destination_version="v1",response_code="200"} 8
`

func TestParseHosts(t *testing.T) {
	tests := map[string]struct {
		page string
		side Side
		want map[string]Report
	}{
		"gateway page, caller side": {
			page: gatewayPage, side: Source,
			want: map[string]Report{
				reviews: {
					Subsets: map[string]traffic.Counts{
						"v1": {Requests: 105, Rq2xx: 95, Rq5xx: 10},
						"v2": {Requests: 10, Rq2xx: 7, Rq4xx: 3},
					},
					GRPCFailuresIn2xx: map[string]uint64{"v2": 2},
				},
				"ratings.default.svc.cluster.local": {Subsets: map[string]traffic.Counts{
					"v1": {Requests: 4, Rq2xx: 4},
					"v2": {Requests: 1, Rq5xx: 1},
				}},
			},
		},
		"gateway page, destination side": {
			page: gatewayPage, side: Destination,
			want: map[string]Report{
				"details.default.svc.cluster.local": {Subsets: map[string]traffic.Counts{"v1": {Requests: 8, Rq2xx: 8}}},
			},
		},
		"text with and without ';'": {
			page: textWithSemicolon + "cluster.outbound|80|canary|api.example.com.upstream_rq_503: 2\ncluster.outbound|80|canary|api.example.com.upstream_rq_completed: 2\n",
			side: Source,
		},
		"text, destination side: nothing": {page: textWithSemicolon, side: Destination, want: map[string]Report{}},
		"empty prometheus page":           {page: "# nothing used yet\n", side: Source, want: map[string]Report{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseHosts([]byte(tc.page), tc.side)
			if err != nil {
				t.Fatalf("ParseHosts: %v", err)
			}
			if tc.want != nil {
				for h, r := range got {
					for s, c := range r.Subsets {
						c.Latency = traffic.Histogram{}
						r.Subsets[s] = c
					}
					got[h] = r
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("ParseHosts =\n%+v\nwant\n%+v", got, tc.want)
				}
			}
			assertLikeParse(t, []byte(tc.page), tc.side, got, true)
		})
	}
}

func TestParseHostsErrors(t *testing.T) {
	tests := map[string]string{
		"config dump":                    configDump,
		"garbage":                        "\x00\x01binary",
		"bad line":                       "istio_requests_total{reporter=\"source\" 3\n",
		"negative counter of some host":  `envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|80|v1|other.example.com"} -1` + "\n",
		"NaN istio counter of some host": `istio_requests_total{reporter="source",destination_service="other.example.com",destination_version="v1",response_code="200"} NaN` + "\n",
	}
	for name, page := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := ParseHosts([]byte(page), Source); err == nil {
				t.Errorf("ParseHosts = %+v, want an error", got)
			}
		})
	}
}

// meshlabCallerPage (relative to fixtureDir) is the caller page e2e/meshlab captured
// (provenance in its README):
// outbound subset clusters with gRPC failures only in Istio's series.
const meshlabCallerPage = "../../e2e/meshlab/testdata/caller-stats-prometheus.txt"

// TestParseHostsFixtures: on every real page, the hosts found are those the page has stats
// for, and each host's Report is Parse's for that host.
func TestParseHostsFixtures(t *testing.T) {
	bookinfo := []string{"details.default.svc.cluster.local", "productpage.default.svc.cluster.local", "ratings.default.svc.cluster.local", reviews}
	tests := map[string]struct {
		file       string
		side       Side
		want       []string
		wantGRPCOf string // a host whose report carries gRPC failures in 2xx
	}{
		"1.5 source":        {file: "istio-1.5-sidecar-stats-prometheus.txt", side: Source, want: []string{"archive.ubuntu.com", "repo.mongodb.org", "security.ubuntu.com"}},
		"1.5 destination":   {file: "istio-1.5-sidecar-stats-prometheus.txt", side: Destination},
		"1.11 source":       {file: "istio-1.11-sidecar-merged-stats-prometheus.txt", side: Source},
		"1.11 destination":  {file: "istio-1.11-sidecar-merged-stats-prometheus.txt", side: Destination, want: []string{reviews}},
		"1.1 mixer source":  {file: "istio-1.1-mixer-mesh-prometheus.txt", side: Source, want: bookinfo},
		"1.1 mixer dest":    {file: "istio-1.1-mixer-mesh-prometheus.txt", side: Destination, want: append([]string{"istio-policy.istio-system.svc.cluster.local", "istio-telemetry.istio-system.svc.cluster.local"}, bookinfo...)},
		"plain envoy":       {file: "envoy-stats-prometheus.txt", side: Source},
		"0.x text":          {file: "istio-0.x-sidecar-stats-text.txt", side: Source},
		"meshlab caller":    {file: meshlabCallerPage, side: Source, want: []string{"reviews.meshlab.svc.cluster.local"}, wantGRPCOf: "reviews.meshlab.svc.cluster.local"},
		"meshlab caller ds": {file: meshlabCallerPage, side: Destination},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, tc.file)
			got, err := ParseHosts(data, tc.side)
			if err != nil {
				t.Fatalf("ParseHosts: %v", err)
			}
			if hosts := slices.Sorted(maps.Keys(got)); !slices.Equal(hosts, slices.Sorted(slices.Values(tc.want))) {
				t.Errorf("hosts %v, want %v", hosts, tc.want)
			}
			if tc.wantGRPCOf != "" && len(got[tc.wantGRPCOf].GRPCFailuresIn2xx) == 0 {
				t.Errorf("%s: no gRPC failures in 2xx: %+v", tc.wantGRPCOf, got[tc.wantGRPCOf])
			}
			assertLikeParse(t, data, tc.side, got, true)
		})
	}
}

// FuzzParseHosts: whenever ParseHosts reads a page, Parse reads it too and agrees on every
// host. Latency histograms are compared only when strict: two ports of one subset with
// different bucket bounds merge in map order, in Parse as here.
func FuzzParseHosts(f *testing.F) {
	addFixtureSeeds(f)
	f.Add(readFixture(f, meshlabCallerPage))
	f.Add([]byte(gatewayPage))
	f.Add([]byte(textWithSemicolon))
	f.Add([]byte(jsonPageWith(`[0,25,50,75,90,95,99,99.5,99.9,100]`, `[{"interval":null,"cumulative":1}]`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, side := range []Side{Source, Destination} {
			got, err := ParseHosts(data, side)
			if err != nil {
				continue
			}
			assertLikeParse(t, data, side, got, false)
		}
	})
}

// assertLikeParse checks that every host of got, and a few it does not name, read alike
// through Parse.
func assertLikeParse(t *testing.T, data []byte, side Side, got map[string]Report, strict bool) {
	t.Helper()
	hosts := slices.Sorted(maps.Keys(got))
	for _, h := range []string{reviews, "ratings.default.svc.cluster.local", "absent.example.com"} {
		if _, ok := got[h]; !ok {
			hosts = append(hosts, h)
		}
	}
	for _, h := range hosts {
		if h == "" {
			t.Fatalf("ParseHosts reported an empty host")
		}
		want, err := Parse(data, Query{Host: h, Side: side})
		if err != nil {
			t.Fatalf("ParseHosts read the page, Parse for %q did not: %v", h, err)
		}
		r, ok := got[h]
		if ok && len(r.Subsets) == 0 {
			t.Errorf("host %q reported without subsets", h)
		}
		if !sameReport(r, want, strict) {
			t.Errorf("host %q: ParseHosts %+v, Parse %+v", h, r, want)
		}
	}
}

// sameReport compares two reports; an absent report equals one without subsets.
func sameReport(a, b Report, strict bool) bool {
	if len(a.Subsets) != len(b.Subsets) || !maps.Equal(a.GRPCFailuresIn2xx, b.GRPCFailuresIn2xx) {
		return false
	}
	for s, ca := range a.Subsets {
		cb, ok := b.Subsets[s]
		if !ok {
			return false
		}
		if !strict {
			ca.Latency, cb.Latency = traffic.Histogram{}, traffic.Histogram{}
		}
		if !reflect.DeepEqual(ca, cb) {
			return false
		}
	}
	return true
}

// TestParseHostsSharesNoMemoryWithPage: the reports stay the same when the page's buffer
// is overwritten after parsing (a scraper may reuse it for the next page).
func TestParseHostsSharesNoMemoryWithPage(t *testing.T) {
	page := []byte(gatewayPage)
	got, err := ParseHosts(page, Source)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ParseHosts([]byte(gatewayPage), Source)
	if err != nil {
		t.Fatal(err)
	}
	for i := range page {
		page[i] = 'x'
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reports changed with the page's buffer:\n%+v\nwant\n%+v", got, want)
	}
}
