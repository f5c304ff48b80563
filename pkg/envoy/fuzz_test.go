package envoy

import (
	"bytes"
	"math"
	"testing"
)

// addFixtureSeeds adds every fixture, whole and as its first few KB: mutating the small
// heads is fast, the whole files keep the real pages in the corpus. (Minimizing a
// mutated 700 KB page is slow; run with -fuzzminimizetime=1s.)
func addFixtureSeeds(f *testing.F) {
	for _, name := range fixtureFiles {
		data := readFixture(f, name)
		f.Add(data)
		head := data[:min(len(data), 8<<10)]
		if i := bytes.LastIndexByte(head, '\n'); i > 0 {
			head = head[:i+1]
		}
		f.Add(head)
	}
}

// FuzzParse feeds every stats format through Parse and ParseClusters: no panic, and a
// report it returns is self-consistent.
func FuzzParse(f *testing.F) {
	addFixtureSeeds(f)
	f.Add([]byte(textWithSemicolon))
	f.Add([]byte(textWithoutSemicolon))
	f.Add([]byte(jsonPageWith(`[0,25,50,75,90,95,99,99.5,99.9,100]`, `[{"interval":null,"cumulative":1}]`)))
	f.Add([]byte("istio_requests_total{reporter=\"source\",destination_service=\"reviews.default.svc.cluster.local\",destination_version=\"v\\\"1\",response_code=\"503\"} 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, q := range []Query{{Host: reviews, Side: Destination}, {Host: reviews, Side: Source}, {Side: Destination}} {
			r, err := Parse(data, q)
			if err != nil {
				continue
			}
			for s, c := range r.Subsets {
				if c.Rq2xx+c.Rq3xx+c.Rq4xx+c.Rq5xx > c.Requests {
					t.Fatalf("subset %q: classes exceed requests: %+v", s, c)
				}
				if len(c.Latency.Bounds) != len(c.Latency.Counts) {
					t.Fatalf("subset %q: histogram bounds/counts mismatch", s)
				}
				if q := c.Latency.Quantile(0.99); c.Latency.Count > 0 && len(c.Latency.Bounds) > 0 && math.IsNaN(q) {
					t.Fatalf("subset %q: NaN p99 of a non-empty histogram %+v", s, c.Latency)
				}
			}
		}
		_, _ = ParseClusters(data)
	})
}

// FuzzParseConfigDump: no panic on any input; SubsetWeights only reports subsets of the host.
func FuzzParseConfigDump(f *testing.F) {
	f.Add([]byte(configDump))
	f.Add([]byte(dynamicRouteConfigs))
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rw, err := ParseConfigDump(data)
		if err != nil {
			return
		}
		for s := range SubsetWeights(rw, reviews) {
			if s == "" {
				t.Fatalf("empty subset in %+v", rw)
			}
		}
	})
}
