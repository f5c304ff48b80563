package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/sluicedev/sluice/pkg/window"
)

// latencyCheck trips when the canary's p99 is above the absolute limit (with at least
// MinRequests canary samples) or above stable's p99 × LatencyFactor (with at least
// MinRequests samples on both sides).
//
// A p99 from a few dozen samples is noisy, so when the canary has a histogram the
// interpolated p99 must also be backed by a test: the number k of canary samples that are
// certainly above the limit (those in buckets whose lower bound is at or above it) must
// make "more than 1 % of samples above the limit" significant at the policy's confidence,
// with the exact binomial test P(X ≥ k | n, 0.01) < α. That is the same as the p99 being
// above the limit with that confidence; counting only whole buckets keeps it conservative.
// Without a histogram (sources that only give computed quantiles) the point value decides.
func latencyCheck(in Input) (Decision, bool) {
	th := in.Thresholds
	c, s := in.Canary, in.Stable
	cn := samples(c)
	if cn == 0 || cn < th.MinRequests || math.IsNaN(c.P99) {
		return Decision{}, false
	}
	alpha := alphaOf(th.Confidence)
	if th.MaxLatencyP99 > 0 {
		limit := ms(th.MaxLatencyP99)
		if ev, ok := p99Above(c, limit, alpha); ok {
			return latencyTrip(th, fmt.Sprintf("canary p99 %s over %s (%d samples); limit %s%s",
				msStr(c.P99), dur(c.Span), cn, msStr(limit), ev)), true
		}
	}
	sn := samples(s)
	if th.LatencyFactor > 0 && sn > 0 && sn >= th.MinRequests && !math.IsNaN(s.P99) && s.P99 > 0 {
		limit := s.P99 * th.LatencyFactor
		if ev, ok := p99Above(c, limit, alpha); ok {
			return latencyTrip(th, fmt.Sprintf("canary p99 %s vs stable p99 %s over %s (%d/%d samples); limit stable × %g = %s%s",
				msStr(c.P99), msStr(s.P99), dur(c.Span), cn, sn, th.LatencyFactor, msStr(limit), ev)), true
		}
	}
	return Decision{}, false
}

func latencyTrip(th Thresholds, msg string) Decision {
	return Decision{Action: failureAction(th.OnFailure), Reason: ReasonLatency, Message: msg}
}

// p99Above reports whether c's p99 is above limit ms, with the evidence for the message.
func p99Above(c window.Stats, limit, alpha float64) (string, bool) {
	if !(c.P99 > limit) {
		return "", false
	}
	h := c.Latency
	if h.Count == 0 || len(h.Bounds) != len(h.Counts) {
		return "", true
	}
	var above uint64
	for i, b := range h.Bounds {
		if b >= limit {
			above = h.Count - min(h.Counts[i], h.Count)
			break
		}
	}
	if upperTail(above, h.Count, 0.01) >= alpha {
		return "", false
	}
	return fmt.Sprintf("; %d of %d samples certainly above it, p99 above the limit at %s%%", above, h.Count, pct(1-alpha)), true
}

// samples is the number of latency observations behind c's quantiles.
func samples(c window.Stats) int64 {
	n := c.Latency.Count
	if n == 0 {
		n = c.Requests
	}
	return int64(min(n, math.MaxInt64))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func msStr(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2gms", v)
}
