package analysis

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

// latencyCheck trips when the canary's latency at a rule's quantile q is above the rule's
// limit, in any window of the guard's family (trailing.go). The rules (latencyRules):
// MaxLatencyP99 at q = 0.99 and MaxLatency at q = Quantile(), each with at least
// MinRequests canary samples, and LatencyFactor, stable's latency at Quantile() × factor,
// with at least MinRequests samples on both sides.
//
// A quantile from a few dozen samples is noisy, so when the canary has a histogram its
// q-quantile must also be significantly above the limit. The quantile compared is
// Prometheus' histogram_quantile, which assumes samples spread evenly within a bucket;
// under that same assumption it is above the limit exactly when more than 1 − q of the
// samples lie above it (1 % for p99, 5 % for p95), counting a sample in the bucket that
// holds the limit as the fraction of the bucket above the limit. That count t of n samples
// is tested one-sided against 1 − q: a sum of independent [0, 1] terms of mean ≤ 1 − q
// exceeds t with probability at most the convex-order bound of sumtail.go (never looser
// than Hoeffding's exp(−n·KL(t/n ‖ 1 − q))), and exactly the binomial tail when the limit
// falls on a bucket bound. Each window is tested at its share of α (trailing.go), split
// evenly between the enabled rules, so the chance that one tick trips on a canary within
// every limit stays ≤ α whatever the quantiles.
//
// For the factor rule, stable's q-quantile is the higher of the same sub-window's and the
// full window's, each counted only with at least max(MinRequests, 100, ⌈1/(1 − q)⌉)
// samples (with fewer, a p99 is interpolated inside the slowest sample's bucket and can be
// far too low; a p99.9 needs a thousand samples to have one above it): a slowdown shared by
// both subsets raises the reference, and a short stable sample that happens to be fast
// cannot lower it.
// Without a histogram (sources that only give computed quantiles) the point value decides;
// those sources carry p50 and p99 only, so a rule at another quantile has no data and
// holds.
func latencyCheck(in Input) (Decision, bool) {
	th := in.Thresholds
	rules := latencyRules(th)
	if len(rules) == 0 {
		return Decision{}, false
	}
	fam := family(in)
	note := ""
	if k := len(fam) * len(rules); k > 1 {
		note = fmt.Sprintf(" (%s%% over the %d windows × %d limits tested)", pct(1-alphaOf(th.Confidence)), len(fam), len(rules))
	}
	for _, m := range fam {
		for _, r := range rules {
			if msg, ok := latencyTripIn(m, th, r, alphaOf(th.Confidence)*m.share/float64(len(rules))); ok {
				return Decision{Action: failureAction(th.OnFailure), Reason: reason.Latency, Message: msg + note}, true
			}
		}
	}
	return Decision{}, false
}

// latencyRule is one latency limit: an absolute limit in ms, or (factor > 0) stable's
// latency at the same quantile × factor.
type latencyRule struct {
	q      float64
	limit  float64
	factor float64
}

// latencyRules lists the enabled latency rules: MaxLatencyP99 at 0.99, MaxLatency at
// Quantile() (one rule with the lower limit when that is 0.99 too), LatencyFactor at
// Quantile().
func latencyRules(th Thresholds) []latencyRule {
	var rules []latencyRule
	q := th.Quantile()
	if th.MaxLatencyP99 > 0 {
		rules = append(rules, latencyRule{q: DefaultLatencyQuantile, limit: ms(th.MaxLatencyP99)})
	}
	if th.MaxLatency > 0 {
		if len(rules) == 1 && q == DefaultLatencyQuantile {
			rules[0].limit = math.Min(rules[0].limit, ms(th.MaxLatency))
		} else {
			rules = append(rules, latencyRule{q: q, limit: ms(th.MaxLatency)})
		}
	}
	if th.LatencyFactor > 0 {
		rules = append(rules, latencyRule{q: q, factor: th.LatencyFactor})
	}
	return rules
}

// latencyTripIn applies one latency rule to one window of the family at level alpha.
func latencyTripIn(m member, th Thresholds, r latencyRule, alpha float64) (string, bool) {
	c := m.canary
	cn := samples(c)
	cq := c.Quantile(r.q)
	if cn == 0 || cn < th.MinRequests || math.IsNaN(cq) {
		return "", false
	}
	name := QuantileName(r.q)
	if r.factor == 0 {
		ev, ok := quantileAbove(c, r.q, r.limit, alpha)
		if !ok {
			return "", false
		}
		return fmt.Sprintf("canary %s %s over %s (%d samples); limit %s%s",
			name, msStr(cq), m.where, cn, msStr(r.limit), ev), true
	}
	sq, sn := stableQuantile(m, r.q, th.MinRequests)
	if math.IsNaN(sq) {
		return "", false
	}
	limit := sq * r.factor
	ev, ok := quantileAbove(c, r.q, limit, alpha)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("canary %s %s vs stable %s %s over %s (%d/%d samples); limit stable × %g = %s%s",
		name, msStr(cq), name, msStr(sq), m.where, cn, sn, r.factor, msStr(limit), ev), true
}

// minRefSamples is the fewest stable samples whose p99 serves as the factor rule's
// reference; a higher quantile q needs ⌈1/(1 − q)⌉.
const minRefSamples = 100

// stableQuantile is the factor rule's reference: the higher q-quantile of stable's window
// and its full window, among those with at least max(minReq, minRefSamples, ⌈1/(1 − q)⌉)
// samples; NaN when neither has them.
func stableQuantile(m member, q float64, minReq int64) (float64, int64) {
	minReq = max(minReq, minRefSamples, int64(math.Ceil(1/(1-q)-1e-9)))
	best, n := math.NaN(), int64(0)
	for _, s := range []window.Stats{m.stable, m.stableFull} {
		sn := samples(s)
		v := s.Quantile(q)
		if sn > 0 && sn >= minReq && v > 0 && !math.IsNaN(v) && !(v <= best) {
			best, n = v, sn
		}
	}
	return best, n
}

// quantileAbove reports whether c's q-quantile is above limit ms, on significant evidence
// when c has a histogram, with that evidence for the message.
func quantileAbove(c window.Stats, q, limit, alpha float64) (string, bool) {
	if !(c.Quantile(q) > limit) {
		return "", false
	}
	h := c.Latency
	if h.Count == 0 || len(h.Bounds) != len(h.Counts) {
		return "", true
	}
	t, exact := weightAbove(h, limit)
	p := aboveShare(q)
	tail := sumTail(t, h.Count, p)
	if exact {
		tail = upperTail(uint64(t), h.Count, p)
	}
	if tail >= alpha {
		return "", false
	}
	return fmt.Sprintf("; %.4g of %d samples above it (evenly spread within buckets, %s%% allowed), %s above the limit at %s%%",
		t, h.Count, pct(p), QuantileName(q), pct(1-alpha)), true
}

// aboveShare is the share of samples a q-quantile at the limit allows above it, 1 − q,
// rounded to the 1e-12 so that 0.99 gives 0.01 and not 0.010000000000000009.
func aboveShare(q float64) float64 {
	return math.Round((1-q)*1e12) / 1e12
}

// LatencyOver reports whether c's point estimates are over an absolute latency limit of
// th (MaxLatencyP99 at p99, MaxLatency at th.Quantile()), evidence aside: the controller
// notes when a canary first went over a limit.
func LatencyOver(c window.Stats, th Thresholds) bool {
	for _, r := range latencyRules(th) {
		if r.factor == 0 && c.Quantile(r.q) > r.limit {
			return true
		}
	}
	return false
}

// QuantileName names a quantile the way latency quantiles are written: p50, p95, p99,
// p99.9.
func QuantileName(q float64) string {
	return "p" + strconv.FormatFloat(math.Round(q*1e6)/1e4, 'f', -1, 64)
}

// weightAbove counts the samples of h (cumulative bucket counts) above limit ms, the
// bucket holding the limit contributing the fraction of its width above it, as
// histogram_quantile's interpolation assumes; the +Inf bucket counts in full. exact is
// whether every sample counted 0 or 1 (the limit on a bound, or its bucket empty).
func weightAbove(h traffic.Histogram, limit float64) (t float64, exact bool) {
	exact = true
	var prevBound float64
	var prevCum uint64
	for i, b := range h.Bounds {
		cum := max(min(h.Counts[i], h.Count), prevCum)
		in := cum - prevCum
		switch {
		case prevBound >= limit:
			t += float64(in)
		case b > limit && in > 0:
			t += float64(in) * (b - limit) / (b - prevBound)
			exact = false
		}
		prevBound, prevCum = b, cum
	}
	if len(h.Bounds) > 0 && limit < prevBound {
		t += float64(h.Count - prevCum)
	}
	return t, exact
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
