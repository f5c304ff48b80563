package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const fixtures = "../../testdata/envoy/"

const testDump = `{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
 "dynamic_route_configs": [{"route_config": {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  "name": "9080", "virtual_hosts": [{"name": "reviews:9080", "domains": ["*"],
   "typed_per_filter_config": {"f": {"@type": "type.googleapis.com/not.linked.Config", "a": 1}},
   "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
    {"name": "outbound|9080|v2|reviews.default.svc.cluster.local", "weight": 10},
    {"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "weight": 90}]}}}]}]}}]}]}`

func TestRunStats(t *testing.T) {
	dir := t.TempDir()
	dumpFile := filepath.Join(dir, "config_dump.json")
	garbage := filepath.Join(dir, "garbage.html")
	if err := os.WriteFile(dumpFile, []byte(testDump), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte("<html>oops</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixture2, err := os.ReadFile(fixtures + "istio-1.11-sidecar-merged-stats-prometheus.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(fixture2) }))
	defer srv.Close()

	tests := map[string]struct {
		args     []string
		code     int
		lines    []string // regexps that must each match a line of stdout
		jsonRows map[string]uint64
		stderr   string
	}{
		"destination table from a file, p50/p99 from the histogram": {
			args:  []string{fixtures + "istio-1.11-sidecar-merged-stats-prometheus.txt", "--host", "reviews.default.svc.cluster.local"},
			lines: []string{`^SUBSET\s+REQUESTS\s+2XX\s+4XX\s+5XX\s+ERROR%\s+P50\(ms\)\s+P99\(ms\)$`, `^v1\s+1\s+1\s+0\s+0\s+0\.00\s+1750\.0\s+2485\.0$`},
		},
		"destination table from a URL": {
			args:  []string{"--host=reviews.default.svc.cluster.local", srv.URL + "/stats/prometheus"},
			lines: []string{`^v1\s+1\s+1\s+`},
		},
		"mixer seconds histogram, json": {
			args:     []string{fixtures + "istio-1.1-mixer-mesh-prometheus.txt", "--host", "reviews.default.svc.cluster.local", "-o", "json"},
			jsonRows: map[string]uint64{"v1": 2, "v2": 2, "v3": 3},
		},
		"caller side falls back to reporter=source": {
			args:  []string{fixtures + "istio-1.5-sidecar-stats-prometheus.txt", "--host", "repo.mongodb.org", "--side", "source"},
			lines: []string{`^unknown\s+11\s+8\s+2\s+0\s+0\.00\s`},
		},
		"no host: per cluster, plain envoy": {
			args:  []string{fixtures + "envoy-stats-prometheus.txt"},
			lines: []string{`^CLUSTER\s+REQUESTS`, `^service1\s+1\s+1\s+0\s+0\s+0\.00\s+75\.0\s+99\.5$`, `^xds_cluster\s+22\s+22\s`},
		},
		"no host: per cluster, text stats": {
			args:  []string{fixtures + "istio-0.x-sidecar-stats-text.txt"},
			lines: []string{`^rds\s+124769\s+123577\s+0\s+1192\s+0\.96\s+-\s+-$`},
		},
		"nothing for the host": {
			args:  []string{fixtures + "istio-1.5-sidecar-stats-prometheus.txt", "--host", "reviews.default.svc.cluster.local"},
			lines: []string{`^no destination-side stats for reviews\.default\.svc\.cluster\.local in this prometheus page$`},
		},
		"config dump with subset weights": {
			args:  []string{dumpFile, "--host", "reviews.default.svc.cluster.local"},
			lines: []string{`^9080\s+reviews:9080\s+default\s+outbound\|9080\|v1\|reviews\.default\.svc\.cluster\.local\s+90$`, `^subset weights for reviews\.default\.svc\.cluster\.local: v1=90 v2=10$`},
		},
		"usage: no input":      {args: nil, code: 2, stderr: "usage:"},
		"usage: two inputs":    {args: []string{"a", "b"}, code: 2, stderr: "usage:"},
		"usage: bad side":      {args: []string{"a", "--side", "up"}, code: 2, stderr: "--side"},
		"usage: bad output":    {args: []string{"a", "-o", "yaml"}, code: 2, stderr: "-o"},
		"missing file":         {args: []string{filepath.Join(dir, "nope")}, code: 1, stderr: "no such file"},
		"garbage":              {args: []string{garbage}, code: 1, stderr: "not an Envoy/Istio stats page"},
		"dump without subsets": {args: []string{dumpFile, "--host", "ratings"}, code: 1, stderr: "no route sends to a subset of ratings"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runStats(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if tc.stderr != "" && !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tc.stderr)
			}
			for _, re := range tc.lines {
				if !regexp.MustCompile(`(?m)` + re).MatchString(stdout.String()) {
					t.Errorf("no line matching %s in:\n%s", re, stdout.String())
				}
			}
			if tc.jsonRows != nil {
				var rows []statsRow
				if err := json.Unmarshal(stdout.Bytes(), &rows); err != nil {
					t.Fatalf("json output: %v\n%s", err, stdout.String())
				}
				got := map[string]uint64{}
				for _, r := range rows {
					got[r.Name] = r.Requests
					if r.P99 == nil {
						t.Errorf("row %s has no p99", r.Name)
					}
				}
				if len(got) != len(tc.jsonRows) {
					t.Errorf("rows = %v, want %v", got, tc.jsonRows)
				}
				for k, v := range tc.jsonRows {
					if got[k] != v {
						t.Errorf("row %s requests = %d, want %d", k, got[k], v)
					}
				}
			}
		})
	}
}
