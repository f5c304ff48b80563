package envoy

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// hostsPage renders a gateway's /stats/prometheus page with the stable and canary
// clusters of hosts svc-from … svc-(to-1), each with request counts and a latency
// histogram whose bounds are bounds (in ms, Envoy's order unless shuffled).
func hostsPage(from, to int, requests uint64, bounds []string) string {
	var b strings.Builder
	b.WriteString("# TYPE envoy_cluster_upstream_rq counter\n")
	for i := from; i < to; i++ {
		for _, subset := range []string{"stable", "canary"} {
			c := fmt.Sprintf("outbound|80|%s|svc-%d.bench.svc.cluster.local", subset, i)
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=%q} %d\n", c, requests+uint64(i))
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"5xx\",cluster_name=%q} %d\n", c, uint64(i)%3)
			for j, le := range bounds {
				fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_bucket{cluster_name=%q,le=%q} %d\n", c, le, uint64(j)*requests/uint64(len(bounds)))
			}
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_bucket{cluster_name=%q,le=\"+Inf\"} %d\n", c, requests)
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_sum{cluster_name=%q} %d\n", c, requests*7)
			fmt.Fprintf(&b, "envoy_cluster_upstream_rq_time_count{cluster_name=%q} %d\n", c, requests)
		}
	}
	return b.String()
}

var (
	envoyBounds    = []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000"}
	shuffledBounds = []string{"100", "0.5", "5000", "1", "25"}
)

// TestHostsParserReuse: one parser reading a caller's successive pages (hosts coming and
// going, bucket bounds changing, an unreadable page, another format between them) returns
// for each what a fresh ParseHosts returns, and never changes what it returned before.
func TestHostsParserReuse(t *testing.T) {
	type page struct {
		name    string
		data    string
		side    Side
		wantErr bool
	}
	pages := []page{
		{name: "hosts 0-19", data: hostsPage(0, 20, 100, envoyBounds), side: Source},
		{name: "hosts 0-19 again, more requests", data: hostsPage(0, 20, 400, envoyBounds), side: Source},
		{name: "hosts 10-29 (0-9 gone)", data: hostsPage(10, 30, 500, envoyBounds), side: Source},
		{name: "fewer, shuffled bounds", data: hostsPage(10, 15, 600, shuffledBounds), side: Source},
		{name: "no histogram", data: hostsPage(10, 15, 700, nil), side: Source},
		{name: "gateway page", data: gatewayPage, side: Source},
		{name: "gateway page, destination side", data: gatewayPage, side: Destination},
		{name: "a bad counter", data: hostsPage(0, 3, 1, envoyBounds) + "envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=\"outbound|80|canary|svc-1.bench.svc.cluster.local\"} -4\n", side: Source, wantErr: true},
		{name: "text page", data: textWithSemicolon, side: Source},
		{name: "hosts 0-19 after all that", data: hostsPage(0, 20, 900, envoyBounds), side: Source},
		{name: "empty", data: "# nothing used yet\n", side: Source},
		{name: "gateway page last", data: gatewayPage, side: Source},
	}
	var p HostsParser
	type earlier struct {
		name      string
		got, want map[string]Report
	}
	var before []earlier
	for _, pg := range pages {
		got, err := p.Parse([]byte(pg.data), pg.side)
		want, wantErr := ParseHosts([]byte(pg.data), pg.side)
		if (err != nil) != pg.wantErr || (wantErr != nil) != pg.wantErr {
			t.Fatalf("%s: Parse error %v, fresh ParseHosts error %v, want an error: %v", pg.name, err, wantErr, pg.wantErr)
		}
		if pg.wantErr {
			continue
		}
		if len(want) == 0 && pg.name != "empty" && pg.side == Source {
			t.Fatalf("%s: the page names no host; the case tests nothing", pg.name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: reused parser\n%+v\nfresh\n%+v", pg.name, got, want)
		}
		before = append(before, earlier{pg.name, got, want})
		for _, e := range before {
			if !reflect.DeepEqual(e.got, e.want) {
				t.Errorf("after %s, the Reports of %s changed", pg.name, e.name)
			}
		}
	}
}

// TestHostsParserDropsGoneClusters: the accumulators kept are those of the last page.
func TestHostsParserDropsGoneClusters(t *testing.T) {
	var p HostsParser
	for _, pg := range []string{hostsPage(0, 50, 10, envoyBounds), hostsPage(40, 45, 10, envoyBounds)} {
		if _, err := p.Parse([]byte(pg), Source); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(p.agg.clusters.clusters.m); n != 10 {
		t.Errorf("after a page of 5 hosts × 2 subsets, the parser keeps %d clusters", n)
	}
	if _, err := p.Parse([]byte(gatewayPage), Source); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(p.agg.istio)); !reflect.DeepEqual(got, []string{"details.default.svc.cluster.local", "ratings.default.svc.cluster.local", reviews}) {
		t.Errorf("Istio filters kept after the gateway page: %v", got)
	}
	if _, err := p.Parse([]byte(hostsPage(0, 1, 10, nil)), Source); err != nil {
		t.Fatal(err)
	}
	if n, m := len(p.agg.clusters.clusters.m), len(p.agg.istio); n != 2 || m != 0 {
		t.Errorf("after a page of one host without Istio metrics: %d clusters, %d Istio filters kept", n, m)
	}
}

// FuzzHostsParser: a parser that read one page reads the next as a fresh one does, and
// leaves the first page's Reports as they were.
func FuzzHostsParser(f *testing.F) {
	f.Add([]byte(hostsPage(0, 3, 10, envoyBounds)), []byte(hostsPage(1, 4, 20, shuffledBounds)))
	f.Add([]byte(gatewayPage), []byte(hostsPage(0, 2, 5, nil)))
	f.Add([]byte(hostsPage(0, 2, 5, envoyBounds)), []byte(gatewayPage))
	f.Add([]byte(textWithSemicolon), []byte(gatewayPage))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		for _, side := range []Side{Source, Destination} {
			var p HostsParser
			gotA, errA := p.Parse(a, side)
			gotB, errB := p.Parse(b, side)
			wantA, _ := ParseHosts(a, side)
			wantB, wantErrB := ParseHosts(b, side)
			if (errB != nil) != (wantErrB != nil) {
				t.Fatalf("second page: reused parser error %v, fresh %v", errB, wantErrB)
			}
			if errA == nil {
				sameHosts(t, "first page, after the second", gotA, wantA)
			}
			if errB == nil {
				sameHosts(t, "second page", gotB, wantB)
			}
		}
	})
}

// sameHosts compares two ParseHosts results host by host; latency only where no two ports
// of one subset merge (their order is the map's).
func sameHosts(t *testing.T, what string, got, want map[string]Report) {
	t.Helper()
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("%s: hosts %v, want %v", what, slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for h, r := range got {
		if !sameReport(r, want[h], false) {
			t.Errorf("%s: host %q: %+v, want %+v", what, h, r, want[h])
		}
	}
}

// TestHostsParserAllocations: after its first page, a parser allocates per host only the
// Report's subset map (and a few shared arrays per page), not per cluster and bucket as a
// fresh parse does.
func TestHostsParserAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocations")
	}
	const hosts = 200
	page := []byte(hostsPage(0, hosts, 1000, envoyBounds))
	var p HostsParser
	if _, err := p.Parse(page, Source); err != nil {
		t.Fatal(err)
	}
	reused := testing.AllocsPerRun(20, func() {
		if _, err := p.Parse(page, Source); err != nil {
			t.Fatal(err)
		}
	})
	fresh := testing.AllocsPerRun(20, func() {
		if _, err := ParseHosts(page, Source); err != nil {
			t.Fatal(err)
		}
	})
	// A host's subset map is two allocations (the map and its one group of slots).
	if reused > 2*hosts+50 {
		t.Errorf("a reused parser allocates %.0f times per page of %d hosts, want ≤ %d", reused, hosts, 2*hosts+50)
	}
	t.Logf("allocations per page of %d hosts: fresh %.0f, reused %.0f", hosts, fresh, reused)
}
