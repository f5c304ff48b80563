// Package monitoring_test checks sluice's dashboard and alerting rules: they load (the
// rules in the real Prometheus's promtool), and every query names only metrics sluice
// exports, while every metric sluice exports is on the dashboard.
package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/pkg/metrics"
)

// exported lists the metric names sluice exports, from the collectors themselves.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	collectors := m.Collectors()
	collectors = append(collectors, extraCollectors(t)...)
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range collectors {
		ch := make(chan *prometheus.Desc, 16)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if m := fq.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("found only %d metrics: %v", len(names), names)
	}
	return names
}

var metricName = regexp.MustCompile(`\bsluice_[a-z0-9_]+\b`)

// named returns the sluice metrics an expression names, histogram series folded into
// their histogram.
func named(expr string) []string {
	var out []string
	for _, n := range metricName.FindAllString(expr, -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			n = strings.TrimSuffix(n, suffix)
		}
		out = append(out, n)
	}
	return out
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func TestDashboard(t *testing.T) {
	data, err := os.ReadFile("sluice-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	have := exported(t)
	shown := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || len(p.Targets) == 0 || p.Title == "" {
			t.Errorf("panel %d %q: duplicate id, no title or no query", p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, tg := range p.Targets {
			names := named(tg.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no sluice metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				if !have[n] {
					t.Errorf("panel %q: query %q names %s, which sluice does not export", p.Title, tg.Expr, n)
				}
				shown[n] = true
			}
		}
	}
	for _, v := range d.Templating.List {
		if q, ok := v.Query.(string); ok {
			for _, n := range named(q) {
				if !have[n] {
					t.Errorf("variable %s names %s, which sluice does not export", v.Name, n)
				}
			}
		}
	}
	for n := range have {
		if !shown[n] {
			t.Errorf("metric %s is on no panel", n)
		}
	}
}

func TestRules(t *testing.T) {
	data, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Kind string `json:"kind"`
		Spec struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Alert string `json:"alert"`
					Expr  string `json:"expr"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(data, &rule); err != nil && !strings.Contains(err.Error(), "unknown field") {
		t.Fatal(err)
	}
	if rule.Kind != "PrometheusRule" || len(rule.Spec.Groups) == 0 {
		t.Fatalf("not a PrometheusRule with groups: %+v", rule)
	}
	have := exported(t)
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			for _, n := range named(r.Expr) {
				if !have[n] {
					t.Errorf("rule %s names %s, which sluice does not export", r.Alert, n)
				}
			}
		}
	}
	// The rule groups, as a plain rule file, load in the real Prometheus's promtool.
	var generic map[string]any
	if err := yaml.Unmarshal(data, &generic); err != nil {
		t.Fatal(err)
	}
	plain, err := yaml.Marshal(generic["spec"])
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(file, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run hack/install-debs.sh (Debian's prometheus package has it)")
	}
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool said: %s", out)
	}
	want := fmt.Sprintf("SUCCESS: %d rules found", strings.Count(string(data), "- alert:"))
	if !strings.Contains(string(out), want) {
		t.Fatalf("promtool said %q, want %q", out, want)
	}
}
