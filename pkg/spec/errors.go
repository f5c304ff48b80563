package spec

import (
	"fmt"
	"strings"
)

// Problem is one invalid input: which field, the value found and what was expected.
type Problem struct {
	// Field is the annotation key ("sluice.dev/steps") or a policy field path
	// ("policy.spec.steps[2].weight").
	Field string
	// Value is the offending value as written (policy values formatted back to text).
	Value string
	// Expected says what a valid value looks like, including which part was wrong.
	Expected string
}

// String renders the problem as one line naming the field, the value and what was expected.
func (p Problem) String() string {
	if strings.HasPrefix(p.Field, annPrefix) && !isKnownKey(p.Field) {
		return fmt.Sprintf("%s: unknown annotation (value %q): expected %s", p.Field, p.Value, p.Expected)
	}
	return fmt.Sprintf("%s: %q is not %s: expected %s", p.Field, p.Value, noun(p.Field), p.Expected)
}

// InvalidError reports every problem found in a Service's annotations and its policy.
type InvalidError struct {
	Problems []Problem
}

// Error returns one line per problem.
func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// annotationNouns names what each annotation's value should be, for messages.
var annotationNouns = map[string]string{
	AnnEnabled:         "a boolean",
	AnnPaused:          "a boolean",
	AnnCanary:          "a subset name",
	AnnStable:          "a subset name",
	AnnPromote:         "a subset name",
	AnnAbort:           "a subset name",
	AnnRetry:           "a retry command",
	AnnVirtualService:  "a list of VirtualService names",
	AnnPolicy:          "a ShiftPolicy name",
	AnnSteps:           "a step list",
	AnnStepDuration:    "a step duration",
	AnnMaxErrorRate:    "a rate",
	AnnMaxLatencyP99:   "a latency limit",
	AnnMaxLatency:      "a latency limit at a quantile",
	AnnMinRequests:     "a request count",
	AnnStatsFrom:       "a caller selector",
	AnnChecks:          "a list of checks",
	AnnOnAlert:         "an alert action",
	AnnApprove:         "an approval",
	AnnReleaseCanary:   "a subset name",
	AnnReleaseCommit:   "a commit",
	AnnReleasePipeline: "a pipeline",
	AnnReleaseURL:      "a URL",
	AnnReleaseBy:       "a name",
}

// policyNouns names what each policy field should be, keyed by the path's last field.
var policyNouns = map[string]string{
	"steps":                "a step schedule",
	"weight":               "a step weight",
	"dwell":                "a dwell time",
	"defaultDwell":         "a dwell time",
	"interval":             "a tick interval",
	"maxErrorRate":         "a rate",
	"maxErrorRateIncrease": "a rate",
	"maxLatencyP99":        "a latency limit",
	"maxLatency":           "a latency limit at a quantile",
	"quantile":             "a latency quantile",
	"limit":                "a latency limit",
	"latencyFactor":        "a latency factor",
	"window":               "a window length",
	"minRequests":          "a request count",
	"confidence":           "a confidence level",
	"onFailure":            "a failure action",
	"onUnobservable":       "a failure action",
	"onAlert":              "an alert action",
	"silenceTimeout":       "a timeout",
	"unobservableTimeout":  "a timeout",
	"historyLimit":         "a history limit",
	"factor":               "a factor",
	"floor":                "a memory floor",
	"samples":              "a sample count",
	"source":               "a resource source",
	"name":                 "a check name",
	"query":                "a check query",
	"op":                   "a check op",
	"threshold":            "a threshold",
	"compare":              "a comparison",
	"failureLimit":         "a failure limit",
}

// noun returns what the value of field should be, e.g. "a rate".
func noun(field string) string {
	if n, ok := annotationNouns[field]; ok {
		return n
	}
	if n, ok := policyNouns[field[strings.LastIndex(field, ".")+1:]]; ok {
		return n
	}
	return "valid"
}

// problems collects Problems in the order they are found.
type problems []Problem

func (ps *problems) add(field, value, expected string) {
	*ps = append(*ps, Problem{Field: field, Value: value, Expected: expected})
}

// has reports whether a problem was recorded for field or any path below it.
func (ps problems) has(prefix string) bool {
	for _, p := range ps {
		if p.Field == prefix || strings.HasPrefix(p.Field, prefix+".") || strings.HasPrefix(p.Field, prefix+"[") {
			return true
		}
	}
	return false
}
