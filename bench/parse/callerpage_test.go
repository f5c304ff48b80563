package parse_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// callerHosts is how many Services the generated gateway page routes to (bench/scale's
// largest N).
const callerHosts = 1000

// envoyBuckets are Envoy's default histogram bucket bounds (ms), as its
// upstream_rq_time histograms carry them.
var envoyBuckets = []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"}

// callerPage is an ingress gateway's host-independent page (envoy.CallerStatsFilter) as
// bench/scale's stand-in gateway serves it: for each of hosts Services a stable and a
// canary cluster with upstream_rq by class and by code, _completed, _total and the
// upstream_rq_time histogram, families in Envoy's order.
func callerPage(hosts int) []byte {
	var b bytes.Buffer
	cluster := func(i int, subset string) string {
		return fmt.Sprintf("outbound|80|%s|svc-%d.bench.svc.cluster.local", subset, i)
	}
	each := func(fn func(c string, n uint64)) {
		for i := range hosts {
			fn(cluster(i, "canary"), uint64(50+i%7))
			fn(cluster(i, "stable"), uint64(950+i%13))
		}
	}
	b.WriteString("# TYPE envoy_cluster_upstream_rq counter\n")
	each(func(c string, n uint64) {
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=%q} %d\n", c, n-1)
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"5xx\",cluster_name=%q} 1\n", c)
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code=\"200\",cluster_name=%q} %d\n", c, n-1)
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code=\"503\",cluster_name=%q} 1\n", c)
	})
	for _, family := range []string{"envoy_cluster_upstream_rq_completed", "envoy_cluster_upstream_rq_total"} {
		b.WriteString("# TYPE " + family + " counter\n")
		each(func(c string, n uint64) { fmt.Fprintf(&b, "%s{cluster_name=%q} %d\n", family, c, n) })
	}
	b.WriteString("# TYPE envoy_cluster_upstream_rq_time histogram\n")
	each(func(c string, n uint64) {
		for j, le := range envoyBuckets {
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_bucket{cluster_name=%q,le=%q} %d\n", c, le, min(n, n*uint64(j+1)/8))
		}
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_bucket{cluster_name=%q,le=\"+Inf\"} %d\n", c, n)
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_sum{cluster_name=%q} %d\n", c, n*12)
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_count{cluster_name=%q} %d\n", c, n)
	})
	return b.Bytes()
}

// BenchmarkParseCallerPage parses a gateway's page of 1,000 Services into every host's
// Report, as source.CallerPages does once per scrape: `fresh` with envoy.ParseHosts (new
// accumulators every page), `reused` with one envoy.HostsParser for every page (its
// accumulators kept from the page before).
func BenchmarkParseCallerPage(b *testing.B) {
	page := callerPage(callerHosts)
	check := func(b *testing.B, hosts map[string]envoy.Report, err error) {
		if err != nil || len(hosts) != callerHosts || hosts["svc-7.bench.svc.cluster.local"].Subsets["canary"].Requests != 50 {
			b.Fatalf("ParseHosts = %d hosts, %v", len(hosts), err)
		}
	}
	b.Run("fresh", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			hosts, err := envoy.ParseHosts(page, envoy.Source)
			check(b, hosts, err)
		}
	})
	b.Run("reused", func(b *testing.B) {
		var p envoy.HostsParser
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			hosts, err := p.Parse(page, envoy.Source)
			check(b, hosts, err)
		}
	})
}
