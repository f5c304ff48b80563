package spec

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Defaults of guard.resources and checks.
const (
	defaultCheckInterval = 10 * time.Second
	minSignalInterval    = time.Second
)

// CheckSpec is a custom check a Service runs: its judgement and its PromQL template.
type CheckSpec struct {
	analysis.Check
	// Query has the placeholders {{namespace}}, {{service}} and {{subset}}; see Expand.
	Query string
}

// The placeholders a check's query may use.
const (
	PlaceholderNamespace = "{{namespace}}"
	PlaceholderService   = "{{service}}"
	PlaceholderSubset    = "{{subset}}"
)

// Expand fills a check's query for one subset: each placeholder becomes its value escaped
// for a double-quoted PromQL string (backslash, double quote and line breaks escaped), so
// that a value can neither end the string nor change the query around it.
func Expand(query, namespace, service, subset string) string {
	return strings.NewReplacer(
		PlaceholderNamespace, EscapeLabelValue(namespace),
		PlaceholderService, EscapeLabelValue(service),
		PlaceholderSubset, EscapeLabelValue(subset),
	).Replace(query)
}

// EscapeLabelValue escapes s for the inside of a double-quoted PromQL string.
func EscapeLabelValue(s string) string {
	return labelEscaper.Replace(s)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)

var placeholderRE = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// checkQuery reports what is wrong with a check's query template, or "".
func checkQuery(q string, c analysis.Compare) string {
	if strings.TrimSpace(q) == "" {
		return "a non-empty PromQL query"
	}
	for _, p := range placeholderRE.FindAllString(q, -1) {
		if p != PlaceholderNamespace && p != PlaceholderService && p != PlaceholderSubset {
			return fmt.Sprintf("PromQL with the placeholders %s, %s and %s only (found %s)", PlaceholderNamespace, PlaceholderService, PlaceholderSubset, p)
		}
	}
	if c != analysis.CompareNone && !strings.Contains(q, PlaceholderSubset) {
		return fmt.Sprintf("a query with %s: a check that compares with stable runs it for both subsets", PlaceholderSubset)
	}
	return ""
}

// resolveResources fills the resource limits and source from guard.resources.
func resolveResources(r v1alpha1.Resources, lim *analysis.ResourceLimits, src *v1alpha1.ResourceSource, ps *problems) {
	const path = "policy.spec.guard.resources."
	switch r.Source {
	case "":
	case v1alpha1.ResourceSourceMetricsAPI, v1alpha1.ResourceSourcePrometheus:
		*src = r.Source
	default:
		ps.add(path+"source", string(r.Source), "MetricsAPI or Prometheus")
	}
	positiveDuration(r.Interval, path+"interval", "a duration of at least 1s like 5s", minSignalInterval, &lim.Interval, ps)
	if m := r.Memory; m != nil {
		lim.Memory.Enabled = true
		floatIn(m.Factor, path+"memory.factor", "a number of at least 1 like 1.5", 1, math.MaxFloat64, false, &lim.Memory.Factor, ps)
		samples(m.Samples, path+"memory.samples", &lim.Memory.Samples, ps)
		if f := m.Floor; f != nil {
			if f.Sign() < 0 {
				ps.add(path+"memory.floor", f.String(), "a quantity of at least 0 like 64Mi")
			} else {
				lim.Memory.FloorBytes = f.AsApproximateFloat64()
			}
		}
	}
	if c := r.CPU; c != nil {
		lim.CPU.Enabled = true
		floatIn(c.Factor, path+"cpu.factor", "a number of at least 1 like 1.5", 1, math.MaxFloat64, false, &lim.CPU.Factor, ps)
		samples(c.Samples, path+"cpu.samples", &lim.CPU.Samples, ps)
	}
}

func samples(n *int32, field string, dst *int, ps *problems) {
	if n == nil {
		return
	}
	if *n < 1 || *n > 100 {
		ps.add(field, strconv.Itoa(int(*n)), "an integer in 1..100 like 3")
		return
	}
	*dst = int(*n)
}

// resolveChecks validates the policy's checks and fills their defaults.
func resolveChecks(checks []v1alpha1.Check, ps *problems) []CheckSpec {
	var out []CheckSpec
	seen := map[string]bool{}
	for i, c := range checks {
		path := fmt.Sprintf("policy.spec.checks[%d].", i)
		cs := CheckSpec{Query: c.Query, Check: analysis.Check{Name: c.Name, Op: analysis.CheckOp(c.Op), Threshold: c.Threshold,
			Compare: analysis.CompareNone, Interval: defaultCheckInterval, FailureLimit: 1}}
		switch {
		case !isLabel(c.Name):
			ps.add(path+"name", c.Name, "a DNS-1123 label like \"queue-depth\"")
		case seen[c.Name]:
			ps.add(path+"name", c.Name, "a name no other check has")
		}
		seen[c.Name] = true
		if c.Op != v1alpha1.CheckMax && c.Op != v1alpha1.CheckMin {
			ps.add(path+"op", string(c.Op), `"max" or "min"`)
		}
		switch c.Compare {
		case "":
		case v1alpha1.CompareNone, v1alpha1.CompareRatio, v1alpha1.CompareDifference:
			cs.Compare = analysis.Compare(c.Compare)
		default:
			ps.add(path+"compare", string(c.Compare), `"none", "ratio" or "difference"`)
		}
		if math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0) {
			ps.add(path+"threshold", strconv.FormatFloat(c.Threshold, 'g', -1, 64), "a finite number")
		}
		if exp := checkQuery(c.Query, cs.Compare); exp != "" {
			ps.add(path+"query", c.Query, exp)
		}
		positiveDuration(c.Interval, path+"interval", "a duration of at least 1s like 10s", minSignalInterval, &cs.Interval, ps)
		samples(c.FailureLimit, path+"failureLimit", &cs.FailureLimit, ps)
		out = append(out, cs)
	}
	return out
}

const expectChecks = `comma-separated names of the policy's checks like "queue-depth,error-budget", each listed once`

// parseCheckNames reads sluice.dev/checks and keeps, in its order, the policy's checks it
// names.
func parseCheckNames(v string, checks []CheckSpec) ([]CheckSpec, string) {
	var out []CheckSpec
	var details []string
	var seen []string
	for i, item := range strings.Split(v, ",") {
		name := strings.TrimSpace(item)
		j := slices.IndexFunc(checks, func(c CheckSpec) bool { return c.Name == name })
		switch {
		case name == "":
			details = append(details, fmt.Sprintf("item %d is empty", i+1))
		case slices.Contains(seen, name):
			details = append(details, fmt.Sprintf("%q is listed twice", name))
		case j < 0:
			details = append(details, fmt.Sprintf("the policy has no check %q", name))
		default:
			out = append(out, checks[j])
		}
		seen = append(seen, name)
	}
	if len(details) > 0 {
		return nil, withDetail(expectChecks, details)
	}
	return out, ""
}
