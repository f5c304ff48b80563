package spec

import (
	"sort"
	"strings"
)

// Annotation keys read from a Service.
const (
	AnnEnabled        = "sluice.dev/enabled"
	AnnCanary         = "sluice.dev/canary"
	AnnStable         = "sluice.dev/stable"
	AnnVirtualService = "sluice.dev/virtualservice"
	AnnPolicy         = "sluice.dev/policy"
	AnnSteps          = "sluice.dev/steps"
	AnnStepDuration   = "sluice.dev/step-duration"
	AnnMaxErrorRate   = "sluice.dev/max-error-rate"
	AnnMaxLatencyP99  = "sluice.dev/max-latency-p99"
	AnnMaxLatency     = "sluice.dev/max-latency"
	AnnMinRequests    = "sluice.dev/min-requests"
	AnnStatsFrom      = "sluice.dev/stats-from"
	AnnChecks         = "sluice.dev/checks"
	AnnPaused         = "sluice.dev/paused"
	AnnPromote        = "sluice.dev/promote"
	AnnAbort          = "sluice.dev/abort"
	AnnRetry          = "sluice.dev/retry"
	AnnOnAlert        = "sluice.dev/on-alert"
	AnnApprove        = "sluice.dev/approve"
	// The release context CI writes with the canary (kubectl sluice release does).
	AnnReleaseCanary   = "sluice.dev/release-canary"
	AnnReleaseCommit   = "sluice.dev/release-commit"
	AnnReleasePipeline = "sluice.dev/release-pipeline"
	AnnReleaseURL      = "sluice.dev/release-url"
	AnnReleaseBy       = "sluice.dev/release-by"
)

// DefaultPolicyName is the ShiftPolicy used when sluice.dev/policy is not set.
const DefaultPolicyName = "default"

// annPrefix is the prefix that marks an annotation as sluice's.
const annPrefix = "sluice.dev/"

// keys lists every annotation sluice reads, in the order Parse reports problems.
var keys = []string{
	AnnEnabled, AnnCanary, AnnStable, AnnVirtualService, AnnPolicy, AnnSteps,
	AnnStepDuration, AnnMaxErrorRate, AnnMaxLatencyP99, AnnMaxLatency, AnnMinRequests, AnnChecks, AnnStatsFrom,
	AnnPaused, AnnPromote, AnnAbort, AnnRetry, AnnApprove, AnnOnAlert,
	AnnReleaseCanary, AnnReleaseCommit, AnnReleasePipeline, AnnReleaseURL, AnnReleaseBy,
}

// Keys returns every annotation key sluice reads, in the order Parse reports problems.
func Keys() []string { return append([]string(nil), keys...) }

// Enabled reports whether the annotations opt the Service in: exactly "true". "false",
// absent and any other value are off (Parse reports other values as a problem).
func Enabled(ann map[string]string) bool {
	return ann[AnnEnabled] == "true"
}

// PolicyName returns the policy the annotations name (DefaultPolicyName when unset or
// empty). It does not validate the name; Parse does.
func PolicyName(ann map[string]string) string {
	if v := ann[AnnPolicy]; v != "" {
		return v
	}
	return DefaultPolicyName
}

// unknownKeys returns the sluice.dev/* keys of ann that sluice does not read, sorted.
func unknownKeys(ann map[string]string) []string {
	var out []string
	for k := range ann {
		if strings.HasPrefix(k, annPrefix) && !isKnownKey(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func isKnownKey(k string) bool {
	for _, known := range keys {
		if k == known {
			return true
		}
	}
	return false
}

// percentileKey recognises a latency limit written into the key, as max-latency-p99 is
// ("sluice.dev/max-latency-p95"), and returns its percentile ("p95"): other percentiles
// go in the value of sluice.dev/max-latency.
func percentileKey(k string) (string, bool) {
	p, ok := strings.CutPrefix(k, AnnMaxLatency+"-")
	if !ok || k == AnnMaxLatencyP99 {
		return "", false
	}
	num, isP := strings.CutPrefix(p, "p")
	return p, isP && percentileRE.MatchString(num)
}

// closestKey returns the known key nearest to k by edit distance, or "" when none is
// close enough to be a plausible typo.
func closestKey(k string) string {
	best, bestDist := "", 4
	for _, known := range keys {
		if d := editDistance(k, known); d < bestDist {
			best, bestDist = known, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
