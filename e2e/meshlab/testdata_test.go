package meshlab

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// TestCapturesParse checks that the captured pages in testdata/ read back with sluice's
// Envoy parsers as what the README says they hold.
func TestCapturesParse(t *testing.T) {
	dumps := map[string]map[string]uint32{
		"caller-config_dump.json":             {"v1": 90, "v2": 10},
		"caller-config_dump-include_eds.json": {"v1": 90, "v2": 10},
		"caller-config_dump-v1-only.json":     {"v1": 100},
	}
	for name, want := range dumps {
		t.Run(name, func(t *testing.T) {
			rw, err := envoy.ParseConfigDump(readTestdata(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := envoy.SubsetWeights(rw, testHost); !maps.Equal(got, want) {
				t.Errorf("weights = %v, want %v", got, want)
			}
		})
	}
	pages := map[string]struct {
		side          envoy.Side
		subsets       []string
		wantErrorsOf  string // subset whose 5xx must be > 0
		wantNoErrorOf string
		// grpcOnly: the errors are gRPC failures the backend answered, which Envoy's cluster
		// stats count as 200; only the page's Istio metrics show them.
		grpcOnly bool
	}{
		"caller-stats-prometheus.txt":     {side: envoy.Source, subsets: []string{"v1", "v2"}, wantErrorsOf: "v2", wantNoErrorOf: "v1", grpcOnly: true},
		"backend-v2-stats-prometheus.txt": {side: envoy.Destination, subsets: []string{"v2"}, wantErrorsOf: "v2"},
	}
	for name, tc := range pages {
		t.Run(name, func(t *testing.T) {
			rep, err := envoy.Parse(readTestdata(t, name), envoy.Query{Host: testHost, Side: tc.side})
			if err != nil {
				t.Fatal(err)
			}
			if tc.grpcOnly && (rep.Subsets[tc.wantErrorsOf].Rq5xx != 0 || rep.GRPCFailuresIn2xx[tc.wantErrorsOf] == 0) {
				t.Errorf("cluster stats of %s: %+v, gRPC failures in 2xx %v; want all its failures only in the latter",
					tc.wantErrorsOf, rep.Subsets[tc.wantErrorsOf], rep.GRPCFailuresIn2xx)
			}
			rep = rep.MoveGRPCFailures(nil)
			for _, s := range tc.subsets {
				c := rep.Subsets[s]
				if c.Requests == 0 || c.Latency.Count != c.Requests || c.Rq2xx+c.Rq5xx != c.Requests {
					t.Errorf("subset %s: %+v", s, c)
				}
			}
			if len(rep.Subsets) != len(tc.subsets) {
				t.Errorf("subsets %v, want %v", slices.Sorted(maps.Keys(rep.Subsets)), tc.subsets)
			}
			if rep.Subsets[tc.wantErrorsOf].Rq5xx == 0 {
				t.Errorf("subset %s has no 5xx", tc.wantErrorsOf)
			}
			if tc.wantNoErrorOf != "" && rep.Subsets[tc.wantNoErrorOf].Rq5xx != 0 {
				t.Errorf("subset %s has 5xx", tc.wantNoErrorOf)
			}
		})
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
