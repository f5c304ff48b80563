package stats

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

	"sigs.k8s.io/yaml"
)

const (
	merged111 = "../../../testdata/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt"
	sidecar15 = "../../../testdata/envoy/istio-1.5-sidecar-stats-prometheus.txt"
	plain     = "../../../testdata/envoy/envoy-stats-prometheus.txt"
)

const testDump = `{"configs": [{"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
 "dynamic_route_configs": [{"route_config": {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  "name": "9080", "virtual_hosts": [{"name": "reviews:9080", "domains": ["*"],
   "typed_per_filter_config": {"f": {"@type": "type.googleapis.com/not.linked.Config", "a": 1}},
   "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
    {"name": "outbound|9080|v2|reviews.default.svc.cluster.local", "weight": 10},
    {"name": "outbound|9080|v1|reviews.default.svc.cluster.local", "weight": 90}]}}}]}]}}]}]}`

func TestReport(t *testing.T) {
	dir := t.TempDir()
	dumpFile := filepath.Join(dir, "config_dump.json")
	garbage := filepath.Join(dir, "garbage.html")
	if err := os.WriteFile(dumpFile, []byte(testDump), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte("<html>oops</html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(merged111)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(page) }))
	defer srv.Close()

	const reviews = "reviews.default.svc.cluster.local"
	tests := map[string]struct {
		src      string
		stdin    string
		opts     Options
		lines    []string // regexps that must each match a line of stdout
		note     string   // expected in the note (stderr); "" = no note
		jsonRows map[string]uint64
		err      string
	}{
		"destination table from a file, p50/p99 from the histogram": {
			src: merged111, opts: Options{Host: reviews, Side: "destination"},
			lines: []string{`^SUBSET\s+REQUESTS\s+2XX\s+4XX\s+5XX\s+ERROR%\s+P50\(ms\)\s+P99\(ms\)$`, `^v1\s+1\s+1\s+0\s+0\s+0\.00\s+1750\.0\s+2485\.0$`},
		},
		"no side: the destination side has data, and the note says so": {
			src: merged111, opts: Options{Host: reviews},
			lines: []string{`^v1\s+1\s+1\s+`}, note: "reading the destination side",
		},
		"destination table from a URL": {
			src: srv.URL + "/stats/prometheus", opts: Options{Host: reviews},
			lines: []string{`^v1\s+1\s+1\s+`},
		},
		"from stdin": {
			src: "-", stdin: string(page), opts: Options{Host: reviews},
			lines: []string{`^v1\s+1\s+1\s+`},
		},
		"caller side asked for": {
			src: sidecar15, opts: Options{Host: "repo.mongodb.org", Side: "source"},
			lines: []string{`^unknown\s+11\s+8\s+2\s+0\s+0\.00\s`},
		},
		"no side: a caller-side page is read on the source side, and the note says so": {
			src: sidecar15, opts: Options{Host: "repo.mongodb.org"},
			lines: []string{`^unknown\s+11\s+8\s+2\s+0\s+0\.00\s`}, note: "reading the source side (the callers' outbound view)",
		},
		"destination side asked for on a caller page": {
			src: sidecar15, opts: Options{Host: "repo.mongodb.org", Side: "destination"},
			lines: []string{`^no destination-side stats for repo\.mongodb\.org in this prometheus page$`},
		},
		"json": {
			src: merged111, opts: Options{Host: reviews, Output: "json"}, jsonRows: map[string]uint64{"v1": 1}, note: "destination side",
		},
		"yaml": {
			src: merged111, opts: Options{Host: reviews, Output: "yaml"}, jsonRows: map[string]uint64{"v1": 1},
		},
		"no host: per cluster, plain envoy": {
			src: plain, lines: []string{`^CLUSTER\s+REQUESTS`, `^service1\s+1\s+1\s+0\s+0\s+0\.00\s+75\.0\s+99\.5$`, `^xds_cluster\s+22\s+22\s`},
		},
		"nothing for the host on either side": {
			src: sidecar15, opts: Options{Host: reviews},
			lines: []string{`^no destination-side or source-side stats for reviews\.default\.svc\.cluster\.local in this prometheus page$`},
		},
		"config dump with subset weights": {
			src: dumpFile, opts: Options{Host: reviews},
			lines: []string{`^9080\s+reviews:9080\s+default\s+outbound\|9080\|v1\|reviews\.default\.svc\.cluster\.local\s+90$`, `^subset weights for reviews\.default\.svc\.cluster\.local: v1=90 v2=10$`},
		},
		"bad side":             {src: plain, opts: Options{Side: "up"}, err: "--side"},
		"old -o table":         {src: plain, opts: Options{Output: "table"}, err: "default now"},
		"missing file":         {src: filepath.Join(dir, "nope"), err: "no such file"},
		"garbage":              {src: garbage, err: "not an Envoy/Istio stats page"},
		"dump without subsets": {src: dumpFile, opts: Options{Host: "ratings"}, err: "no route sends to a subset of ratings"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, note bytes.Buffer
			data, err := Read(context.Background(), tc.src, strings.NewReader(tc.stdin))
			if err == nil {
				err = Report(&stdout, &note, data, tc.opts)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.note != "" && !strings.Contains(note.String(), tc.note) {
				t.Errorf("note %q lacks %q", note.String(), tc.note)
			}
			if tc.note == "" && tc.opts.Side != "" && note.Len() > 0 {
				t.Errorf("unexpected note %q with --side given", note.String())
			}
			for _, re := range tc.lines {
				if !regexp.MustCompile(`(?m)` + re).MatchString(stdout.String()) {
					t.Errorf("no line matching %s in:\n%s", re, stdout.String())
				}
			}
			if tc.jsonRows != nil {
				var rows []Row
				if err := yaml.Unmarshal(stdout.Bytes(), &rows); err != nil {
					t.Fatalf("%s output: %v\n%s", tc.opts.Output, err, stdout.String())
				}
				if tc.opts.Output == "json" && !json.Valid(stdout.Bytes()) {
					t.Errorf("-o json is not JSON:\n%s", stdout.String())
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
