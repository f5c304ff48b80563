package parse_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// skippedPage has n lines the parser must skip for benchHost: other families, other
// clusters' upstream_rq stats, other services' istio_requests_total.
func skippedPage(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "# TYPE envoy_server_stat_%d counter\n", i)
		case 1:
			fmt.Fprintf(&b, "envoy_cluster_upstream_cx_total{cluster_name=\"outbound|80|v1|other-%d.svc.cluster.local\"} %d\n", i, i)
		case 2:
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=\"outbound|80|v1|other-%d.svc.cluster.local\"} %d\n", i, i)
		case 3:
			fmt.Fprintf(&b, "istio_requests_total{reporter=\"destination\",destination_service=\"other-%d.svc.cluster.local\",destination_version=\"v1\",response_code=\"200\"} %d\n", i, i)
		}
	}
	return b.Bytes()
}

// TestSkippedLinesDoNotAllocate checks that the allocations of Parse do not grow with the
// number of lines it skips.
func TestSkippedLinesDoNotAllocate(t *testing.T) {
	for _, side := range []envoy.Side{envoy.Destination, envoy.Source} {
		q := envoy.Query{Host: benchHost, Side: side}
		small, big := skippedPage(100), skippedPage(100000)
		allocs := func(page []byte) float64 {
			return testing.AllocsPerRun(5, func() {
				if _, err := envoy.Parse(page, q); err != nil {
					t.Fatal(err)
				}
			})
		}
		if a, b := allocs(small), allocs(big); b != a {
			t.Errorf("%v: %v allocs for 100 skipped lines, %v for 100000", side, a, b)
		}
	}
}
