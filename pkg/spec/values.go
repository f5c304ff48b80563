package spec

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/schedule"
)

// What each annotation value must look like; a parser returns one of these (plus the
// specific flaw, when that helps) instead of a value.
const (
	expectBool     = `"true" or "false"`
	expectSubset   = `a DNS-1123 label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters) like "v2"`
	expectRetry    = `"<subset>" or "<subset>@<token>" like "v2" or "v2@2", where <subset> is a DNS-1123 label and <token> is non-empty printable text`
	expectVSList   = `comma-separated DNS-1123 subdomain names like "reviews,reviews-gateway", each listed once`
	expectPolicy   = `a DNS-1123 subdomain name (lowercase letters, digits, '-' and '.', at most 253 characters) like "default"`
	expectSteps    = `comma-separated weights like "5,25,50,100", each optionally weight:dwell like "5:1m" and :approve for a step that waits for approval like "50:approve", strictly increasing integers in 1..100 ending at 100`
	expectDuration = `a Go duration greater than 0 like "30s" or "1m30s"`
	expectRate     = `a number in [0,1] like 0.01 or a percentage like 1%`
	expectQuantile = `p<percentile>=<limit> like "p95=300ms" or "p99.9=1s": a percentile from p50 to p99.9 and a Go duration greater than 0`
	expectCount    = `an integer of at least 1 like 20`
	expectStats    = `a non-empty label selector like "app=istio-ingressgateway", optionally ending in ",namespace=<ns>" like "istio=ingressgateway,namespace=istio-system"`
)

// withDetail appends what exactly was wrong to an expectation.
func withDetail(expected string, details []string) string {
	return expected + " (" + strings.Join(details, "; ") + ")"
}

func parseBool(v string) (bool, string) {
	switch v {
	case "true":
		return true, ""
	case "false":
		return false, ""
	}
	return false, expectBool
}

func isLabel(v string) bool     { return len(validation.IsDNS1123Label(v)) == 0 }
func isSubdomain(v string) bool { return len(validation.IsDNS1123Subdomain(v)) == 0 }

func parseSubset(v string) (string, string) {
	if !isLabel(v) {
		return "", expectSubset
	}
	return v, ""
}

// parseRetry returns the subset a retry names; the token is the whole value.
func parseRetry(v string) (string, string) {
	subset, token, hasToken := strings.Cut(v, "@")
	var details []string
	if !isLabel(subset) {
		details = append(details, fmt.Sprintf("subset %q is not a DNS-1123 label", subset))
	}
	if hasToken && !isPrintable(token) {
		details = append(details, fmt.Sprintf("token %q is empty or not printable", token))
	}
	if len(details) > 0 {
		return "", withDetail(expectRetry, details)
	}
	return subset, ""
}

func isPrintable(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func parseVirtualServices(v string) ([]string, string) {
	var names, details []string
	seen := map[string]bool{}
	for i, item := range strings.Split(v, ",") {
		name := strings.TrimSpace(item)
		switch {
		case name == "":
			details = append(details, fmt.Sprintf("item %d is empty", i+1))
		case !isSubdomain(name):
			details = append(details, fmt.Sprintf("%q is not a DNS-1123 subdomain", name))
		case seen[name]:
			details = append(details, fmt.Sprintf("%q is listed twice", name))
		default:
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(details) > 0 {
		return nil, withDetail(expectVSList, details)
	}
	return names, ""
}

func parsePolicyName(v string) (string, string) {
	if !isSubdomain(v) {
		return "", expectPolicy
	}
	return v, ""
}

// annotationStep is one item of sluice.dev/steps; Dwell is nil when the item sets none.
type annotationStep struct {
	Weight   int32
	Dwell    *time.Duration
	Approval bool
}

// cutApprove removes a trailing ":approve" from a step item ("50:approve",
// "50:2m:approve") and reports whether it was there.
func cutApprove(item string) (string, bool) {
	rest, found := strings.CutSuffix(item, ":approve")
	return strings.TrimSpace(rest), found
}

var weightRE = regexp.MustCompile(`^[0-9]{1,3}$`)

func parseSteps(v string) ([]annotationStep, string) {
	var steps []annotationStep
	var details []string
	var prev int32
	items := strings.Split(v, ",")
	for i, item := range items {
		n := i + 1
		item, approval := cutApprove(strings.TrimSpace(item))
		ws, ds, hasDwell := strings.Cut(item, ":")
		ws, ds = strings.TrimSpace(ws), strings.TrimSpace(ds)
		if ws == "" {
			details = append(details, fmt.Sprintf("step %d has no weight", n))
			continue
		}
		if !weightRE.MatchString(ws) {
			details = append(details, fmt.Sprintf("step %d: weight %q is not an integer in 1..100", n, ws))
			continue
		}
		w64, _ := strconv.ParseInt(ws, 10, 32)
		w := int32(w64)
		if w < 1 || w > 100 {
			details = append(details, fmt.Sprintf("step %d: weight %d is outside 1..100", n, w))
			continue
		}
		if prev != 0 && w <= prev {
			details = append(details, fmt.Sprintf("step %d: weight %d is not above %d", n, w, prev))
		}
		prev = w
		st := annotationStep{Weight: w, Approval: approval}
		if hasDwell {
			d, err := time.ParseDuration(ds)
			if err != nil || d < 0 {
				details = append(details, fmt.Sprintf("step %d: dwell %q is not a Go duration >= 0 like 1m", n, ds))
				continue
			}
			st.Dwell = &d
		}
		steps = append(steps, st)
	}
	if len(details) == 0 && len(steps) > 0 && steps[len(steps)-1].Weight != 100 {
		details = append(details, fmt.Sprintf("the last weight is %d, not 100", steps[len(steps)-1].Weight))
	}
	if len(details) > 0 {
		return nil, withDetail(expectSteps, details)
	}
	return steps, ""
}

func parsePositiveDuration(v string) (time.Duration, string) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, expectDuration
	}
	return d, ""
}

var decimalRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// percentileRE is the number of a percentile: "95", "99.9", "97.5".
var percentileRE = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,4})?$`)

// parseQuantileLimit reads sluice.dev/max-latency, "p95=300ms": the quantile (0.95) and
// the limit. The percentile runs from 50 to 99.9, as guard.maxLatency.quantile does.
func parseQuantileLimit(v string) (float64, time.Duration, string) {
	qs, ds, ok := strings.Cut(v, "=")
	if !ok {
		return 0, 0, withDetail(expectQuantile, []string{`no "=" between the percentile and the limit`})
	}
	var details []string
	num, isP := strings.CutPrefix(qs, "p")
	pct, err := strconv.ParseFloat(num, 64)
	// Rounded to the percentile's four decimals, so that p99.9 is exactly 0.999.
	q := math.Round(pct*1e4) / 1e6
	switch {
	case !isP || !percentileRE.MatchString(num) || err != nil:
		details = append(details, fmt.Sprintf("percentile %q is not p<number> like p95", qs))
	case pct >= 100 && strings.HasPrefix(num, "99"):
		details = append(details, fmt.Sprintf("percentile %q is above p99.9 (the 99.9th percentile is written p99.9)", qs))
	case q < analysis.MinLatencyQuantile || q > analysis.MaxLatencyQuantile:
		details = append(details, fmt.Sprintf("percentile %q is outside p50..p99.9", qs))
	}
	d, err := time.ParseDuration(ds)
	if err != nil || d <= 0 {
		details = append(details, fmt.Sprintf("limit %q is not a Go duration greater than 0 like 300ms", ds))
	}
	if len(details) > 0 {
		return 0, 0, withDetail(expectQuantile, details)
	}
	return q, d, ""
}

// parseRate reads "0.01" or "1%" as a fraction in [0,1].
func parseRate(v string) (float64, string) {
	num, percent := strings.CutSuffix(v, "%")
	if !decimalRE.MatchString(num) {
		return 0, expectRate
	}
	f, err := strconv.ParseFloat(num, 64)
	if percent {
		f /= 100
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1 {
		return 0, expectRate
	}
	return f, ""
}

var countRE = regexp.MustCompile(`^[0-9]+$`)

func parseCount(v string) (int64, string) {
	if !countRE.MatchString(v) {
		return 0, expectCount
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 {
		return 0, expectCount
	}
	return n, ""
}

// checkSchedule runs schedule.Validate over the final schedule, as a last guard.
func checkSchedule(s schedule.Schedule) string {
	if err := s.Validate(); err != nil {
		return err.Error()
	}
	return ""
}

// weightsText renders a schedule's weights as "5,25,50,100".
func weightsText(s schedule.Schedule) string {
	parts := make([]string, len(s))
	for i, st := range s {
		parts[i] = strconv.Itoa(int(st.Weight))
	}
	return strings.Join(parts, ",")
}

// parseCommit accepts a commit hash: 7 to 64 hexadecimal digits.
func parseCommit(v string) (string, string) {
	if len(v) < 7 || len(v) > 64 || strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" {
		return "", "a commit hash of 7 to 64 hexadecimal digits"
	}
	return v, ""
}

// maxReleaseText bounds the free-text release annotations.
const maxReleaseText = 256

// parseLabelText accepts printable text of at most maxReleaseText bytes, valid UTF-8,
// without control characters (it ends up in chat messages and logs).
func parseLabelText(v string) (string, string) {
	if v == "" || len(v) > maxReleaseText || !utf8.ValidString(v) || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", fmt.Sprintf("printable text of 1 to %d bytes without control characters", maxReleaseText)
	}
	return v, ""
}

// parseReleaseURL accepts an absolute http(s) URL of at most 2048 bytes.
func parseReleaseURL(v string) (string, string) {
	const expected = "an absolute http(s) URL of at most 2048 bytes"
	if len(v) > 2048 || strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return "", expected
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", expected
	}
	return v, ""
}

const expectApprove = `a subset name, optionally @weight: "v2" approves every gate of v2's rollout, "v2@50" the gates up to 50 %`

// parseApprove reads "<canary>" or "<canary>@<weight>".
func parseApprove(v string) (Approval, string) {
	subset, w, hasWeight := strings.Cut(v, "@")
	if !isLabel(subset) {
		return Approval{}, expectApprove
	}
	a := Approval{Canary: subset, UpTo: 100}
	if hasWeight {
		if !weightRE.MatchString(w) {
			return Approval{}, expectApprove
		}
		n, _ := strconv.Atoi(w)
		if n < 1 || n > 100 {
			return Approval{}, expectApprove
		}
		a.UpTo = int32(n)
	}
	return a, ""
}
