package spec

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

func quantity(s string) *resource.Quantity { q := resource.MustParse(s); return &q }

func TestParseResources(t *testing.T) {
	tests := map[string]struct {
		res  v1alpha1.Resources
		want func(*analysis.ResourceLimits)
		src  v1alpha1.ResourceSource
	}{
		"empty: both off": {want: func(*analysis.ResourceLimits) {}},
		"memory with defaults": {res: v1alpha1.Resources{Memory: &v1alpha1.MemoryLimit{}},
			want: func(l *analysis.ResourceLimits) { l.Memory.Enabled = true }},
		"memory set": {res: v1alpha1.Resources{Memory: &v1alpha1.MemoryLimit{Factor: ptr(2.0), Floor: quantity("128Mi"), Samples: ptr(int32(5))}},
			want: func(l *analysis.ResourceLimits) {
				l.Memory = analysis.MemoryLimits{Enabled: true, Factor: 2, FloorBytes: 128 << 20, Samples: 5}
			}},
		"cpu from Prometheus every 2s": {res: v1alpha1.Resources{Source: v1alpha1.ResourceSourcePrometheus, Interval: &metav1.Duration{Duration: 2 * time.Second},
			CPU: &v1alpha1.CPULimit{Factor: ptr(1.2)}},
			src: v1alpha1.ResourceSourcePrometheus,
			want: func(l *analysis.ResourceLimits) {
				l.Interval, l.CPU.Enabled, l.CPU.Factor = 2*time.Second, true, 1.2
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(nil, &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{Resources: &tc.res}})
			if err != nil {
				t.Fatal(err)
			}
			want := analysis.DefaultThresholds().Resources
			tc.want(&want)
			if !reflect.DeepEqual(got.Guard.Resources, want) {
				t.Errorf("resources %+v, want %+v", got.Guard.Resources, want)
			}
			if src := tc.src; src == "" && got.ResourceSource != v1alpha1.ResourceSourceMetricsAPI || src != "" && got.ResourceSource != src {
				t.Errorf("source %q, want %q (MetricsAPI when unset)", got.ResourceSource, tc.src)
			}
		})
	}
}

func TestParseInvalidResources(t *testing.T) {
	tests := map[string]struct {
		res   v1alpha1.Resources
		field string
	}{
		"source":           {v1alpha1.Resources{Source: "Datadog"}, "policy.spec.guard.resources.source"},
		"interval < 1s":    {v1alpha1.Resources{Interval: &metav1.Duration{Duration: 500 * time.Millisecond}}, "policy.spec.guard.resources.interval"},
		"factor < 1":       {v1alpha1.Resources{Memory: &v1alpha1.MemoryLimit{Factor: ptr(0.9)}}, "policy.spec.guard.resources.memory.factor"},
		"negative floor":   {v1alpha1.Resources{Memory: &v1alpha1.MemoryLimit{Floor: quantity("-1Mi")}}, "policy.spec.guard.resources.memory.floor"},
		"samples 0":        {v1alpha1.Resources{CPU: &v1alpha1.CPULimit{Samples: ptr(int32(0))}}, "policy.spec.guard.resources.cpu.samples"},
		"samples over 100": {v1alpha1.Resources{Memory: &v1alpha1.MemoryLimit{Samples: ptr(int32(101))}}, "policy.spec.guard.resources.memory.samples"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(nil, &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{Resources: &tc.res}})
			assertProblem(t, err, tc.field)
		})
	}
}

// assertProblem fails unless err is an InvalidError with exactly one problem, on field.
func assertProblem(t *testing.T, err error, field string) {
	t.Helper()
	inv, ok := err.(*InvalidError)
	if !ok || len(inv.Problems) != 1 || inv.Problems[0].Field != field {
		t.Fatalf("error %v, want one problem on %s", err, field)
	}
	if s := inv.Problems[0].String(); strings.Contains(s, "is not valid") {
		t.Errorf("problem %q has no noun for its field", s)
	}
}

var queueCheck = v1alpha1.Check{Name: "queue", Query: `max(queue_depth{namespace="{{namespace}}",app="{{service}}",version="{{subset}}"})`, Op: v1alpha1.CheckMax, Threshold: 100}

func TestParseChecks(t *testing.T) {
	budget := v1alpha1.Check{Name: "budget", Query: `sum(rate(errors{version="{{subset}}"}[1m]))`, Op: v1alpha1.CheckMin, Threshold: 0.5,
		Compare: v1alpha1.CompareRatio, Interval: &metav1.Duration{Duration: 2 * time.Second}, FailureLimit: ptr(int32(3))}
	queue := CheckSpec{Query: queueCheck.Query, Check: analysis.Check{Name: "queue", Op: analysis.OpMax, Threshold: 100, Compare: analysis.CompareNone, Interval: 10 * time.Second, FailureLimit: 1}}
	budgetSpec := CheckSpec{Query: budget.Query, Check: analysis.Check{Name: "budget", Op: analysis.OpMin, Threshold: 0.5, Compare: analysis.CompareRatio, Interval: 2 * time.Second, FailureLimit: 3}}
	tests := map[string]struct {
		ann  map[string]string
		want []CheckSpec
	}{
		"every policy check by default": {want: []CheckSpec{queue, budgetSpec}},
		"the annotation picks":          {ann: map[string]string{AnnChecks: "budget"}, want: []CheckSpec{budgetSpec}},
		"in the annotation's order":     {ann: map[string]string{AnnChecks: " budget , queue"}, want: []CheckSpec{budgetSpec, queue}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.ann, &v1alpha1.ShiftPolicySpec{Checks: []v1alpha1.Check{queueCheck, budget}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Checks, tc.want) {
				t.Errorf("checks %+v, want %+v", got.Checks, tc.want)
			}
		})
	}
}

func TestParseInvalidChecks(t *testing.T) {
	with := func(edit func(*v1alpha1.Check)) []v1alpha1.Check {
		c := queueCheck
		edit(&c)
		return []v1alpha1.Check{c}
	}
	tests := map[string]struct {
		checks []v1alpha1.Check
		ann    string
		field  string
		inExp  string
	}{
		"name":                              {checks: with(func(c *v1alpha1.Check) { c.Name = "Queue_Depth" }), field: "policy.spec.checks[0].name"},
		"duplicate name":                    {checks: append(with(func(*v1alpha1.Check) {}), queueCheck), field: "policy.spec.checks[1].name"},
		"op":                                {checks: with(func(c *v1alpha1.Check) { c.Op = "below" }), field: "policy.spec.checks[0].op"},
		"compare":                           {checks: with(func(c *v1alpha1.Check) { c.Compare = "percent" }), field: "policy.spec.checks[0].compare"},
		"empty query":                       {checks: with(func(c *v1alpha1.Check) { c.Query = " " }), field: "policy.spec.checks[0].query"},
		"unknown placeholder":               {checks: with(func(c *v1alpha1.Check) { c.Query = `up{pod="{{pod}}"}` }), field: "policy.spec.checks[0].query", inExp: "found {{pod}}"},
		"Go template syntax":                {checks: with(func(c *v1alpha1.Check) { c.Query = `up{ns="{{.Namespace}}"}` }), field: "policy.spec.checks[0].query"},
		"ratio without subset":              {checks: with(func(c *v1alpha1.Check) { c.Query, c.Compare = "up", v1alpha1.CompareRatio }), field: "policy.spec.checks[0].query", inExp: "{{subset}}"},
		"interval < 1s":                     {checks: with(func(c *v1alpha1.Check) { c.Interval = &metav1.Duration{Duration: 999 * time.Millisecond} }), field: "policy.spec.checks[0].interval"},
		"failure limit 0":                   {checks: with(func(c *v1alpha1.Check) { c.FailureLimit = ptr(int32(0)) }), field: "policy.spec.checks[0].failureLimit"},
		"annotation names an unknown check": {checks: with(func(*v1alpha1.Check) {}), ann: "queue,latency", field: AnnChecks, inExp: `the policy has no check "latency"`},
		"annotation lists one twice":        {checks: with(func(*v1alpha1.Check) {}), ann: "queue,queue", field: AnnChecks, inExp: "listed twice"},
		"annotation with an empty item":     {checks: with(func(*v1alpha1.Check) {}), ann: "queue,", field: AnnChecks, inExp: "item 2 is empty"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var ann map[string]string
			if tc.ann != "" {
				ann = map[string]string{AnnChecks: tc.ann}
			}
			_, err := Parse(ann, &v1alpha1.ShiftPolicySpec{Checks: tc.checks})
			assertProblem(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.inExp) {
				t.Errorf("error %q lacks %q", err, tc.inExp)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	q := `sum(x{namespace="{{namespace}}",service="{{service}}",version="{{subset}}"}) / sum(x{version="{{subset}}"})`
	tests := map[string]struct {
		ns, svc, subset string
		want            string
	}{
		"plain names": {"shop", "reviews", "v2",
			`sum(x{namespace="shop",service="reviews",version="v2"}) / sum(x{version="v2"})`},
		"quote and backslash escaped": {"a\"b", `c\d`, "e\nf",
			`sum(x{namespace="a\"b",service="c\\d",version="e\nf"}) / sum(x{version="e\nf"})`},
		"a value cannot close the matcher": {"x\"} or vector(1) #", "s", "v",
			`sum(x{namespace="x\"} or vector(1) #",service="s",version="v"}) / sum(x{version="v"})`},
		"a placeholder in a value is not expanded again": {"{{subset}}", "s", "v",
			`sum(x{namespace="{{subset}}",service="s",version="v"}) / sum(x{version="v"})`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Expand(q, tc.ns, tc.svc, tc.subset); got != tc.want {
				t.Errorf("Expand =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// FuzzExpand: whatever the values, each expanded placeholder inside "…" reads back as
// exactly its value (PromQL's double-quoted strings take Go's escapes), and nothing of a
// value lands outside its string.
func FuzzExpand(f *testing.F) {
	for _, seed := range [][3]string{{"shop", "reviews", "v2"}, {`a"b`, `c\d`, "e\nf"}, {"\"}", "{{namespace}}", "\r\t\x00"}, {"ü", "\xff", `\"`}} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, ns, svc, subset string) {
		const q = `m{a="{{namespace}}",b="{{service}}",c="{{subset}}"}`
		got := Expand(q, ns, svc, subset)
		rest, ok := strings.CutPrefix(got, `m{a=`)
		if !ok {
			t.Fatalf("Expand changed the query outside its strings: %q", got)
		}
		for i, want := range []string{ns, svc, subset} {
			lit, tail, err := cutQuoted(rest)
			if err != nil {
				t.Fatalf("value %d of %q: %v", i, got, err)
			}
			// Label values are UTF-8 (Prometheus rejects others); Go's Unquote is PromQL's.
			if v, err := strconv.Unquote(lit); utf8.ValidString(want) && (err != nil || v != want) {
				t.Fatalf("value %d reads back as %q (%v), want %q; query %q", i, v, err, want, got)
			}
			rest = tail
			if i < 2 {
				if rest, ok = strings.CutPrefix(rest, ","+string("bc"[i])+"="); !ok {
					t.Fatalf("value %d leaked out of its string: %q", i, got)
				}
			}
		}
		if rest != "}" {
			t.Fatalf("the query's tail changed: %q in %q", rest, got)
		}
	})
}

// cutQuoted splits s after the double-quoted string it starts with, honouring escapes.
func cutQuoted(s string) (lit, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", strconv.ErrSyntax
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[:i+1], s[i+1:], nil
		case '\n':
			return "", "", strconv.ErrSyntax
		}
	}
	return "", "", strconv.ErrSyntax
}
