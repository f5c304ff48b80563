package analysis

import (
	"fmt"
	"math"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/traffic"
	"github.com/sluicedev/sluice/pkg/window"
)

// latencyCheck trips when the canary's p99 is above the absolute limit (with at least
// MinRequests canary samples) or above stable's p99 × LatencyFactor (with at least
// MinRequests samples on both sides), in any window of the guard's family (trailing.go).
//
// A p99 from a few dozen samples is noisy, so when the canary has a histogram the p99
// must also be significantly above the limit. The p99 compared is Prometheus'
// histogram_quantile, which assumes samples spread evenly within a bucket; under that
// same assumption it is above the limit exactly when more than 1 % of the samples lie
// above it, counting a sample in the bucket that holds the limit as the fraction of the
// bucket above the limit. That count t of n samples is tested one-sided against 1 %: a
// sum of independent [0, 1] terms of mean ≤ 1 % exceeds t with probability at most the
// convex-order bound of sumtail.go (never looser than Hoeffding's exp(−n·KL(t/n ‖ 1 %))),
// and exactly the binomial tail when the limit falls on a bucket bound. Each window is
// tested at its share of α (trailing.go), split evenly between the enabled rules.
//
// For the factor rule, stable's p99 is the higher of the same sub-window's and the full
// window's, each counted only with at least max(MinRequests, 100) samples (below 100 a
// p99 is interpolated inside the slowest sample's bucket and can be far too low): a
// slowdown shared by both subsets raises the reference, and a short stable sample that
// happens to be fast cannot lower it.
// Without a histogram (sources that only give computed quantiles) the point value decides.
func latencyCheck(in Input) (Decision, bool) {
	th := in.Thresholds
	rules := 0
	if th.MaxLatencyP99 > 0 {
		rules++
	}
	if th.LatencyFactor > 0 {
		rules++
	}
	if rules == 0 {
		return Decision{}, false
	}
	fam := family(in)
	note := ""
	if k := len(fam) * rules; k > 1 {
		note = fmt.Sprintf(" (%s%% over the %d windows × %d limits tested)", pct(1-alphaOf(th.Confidence)), len(fam), rules)
	}
	for _, m := range fam {
		if msg, ok := latencyTripIn(m, th, alphaOf(th.Confidence)*m.share/float64(rules)); ok {
			return Decision{Action: failureAction(th.OnFailure), Reason: reason.Latency, Message: msg + note}, true
		}
	}
	return Decision{}, false
}

// latencyTripIn applies the latency rules to one window of the family at level alpha.
func latencyTripIn(m member, th Thresholds, alpha float64) (string, bool) {
	c := m.canary
	cn := samples(c)
	if cn == 0 || cn < th.MinRequests || math.IsNaN(c.P99) {
		return "", false
	}
	if th.MaxLatencyP99 > 0 {
		limit := ms(th.MaxLatencyP99)
		if ev, ok := p99Above(c, limit, alpha); ok {
			return fmt.Sprintf("canary p99 %s over %s (%d samples); limit %s%s",
				msStr(c.P99), m.where, cn, msStr(limit), ev), true
		}
	}
	if th.LatencyFactor > 0 {
		sp99, sn := stableP99(m, th.MinRequests)
		if math.IsNaN(sp99) {
			return "", false
		}
		limit := sp99 * th.LatencyFactor
		if ev, ok := p99Above(c, limit, alpha); ok {
			return fmt.Sprintf("canary p99 %s vs stable p99 %s over %s (%d/%d samples); limit stable × %g = %s%s",
				msStr(c.P99), msStr(sp99), m.where, cn, sn, th.LatencyFactor, msStr(limit), ev), true
		}
	}
	return "", false
}

// minP99Samples is the fewest stable samples whose p99 serves as the factor rule's reference.
const minP99Samples = 100

// stableP99 is the factor rule's reference: the higher p99 of stable's window and its full
// window, among those with at least max(minReq, minP99Samples) samples; NaN when neither
// has them.
func stableP99(m member, minReq int64) (float64, int64) {
	minReq = max(minReq, minP99Samples)
	best, n := math.NaN(), int64(0)
	for _, s := range []window.Stats{m.stable, m.stableFull} {
		sn := samples(s)
		if sn > 0 && sn >= minReq && s.P99 > 0 && !math.IsNaN(s.P99) && !(s.P99 <= best) {
			best, n = s.P99, sn
		}
	}
	return best, n
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
	t, exact := weightAbove(h, limit)
	p := sumTail(t, h.Count, 0.01)
	if exact {
		p = upperTail(uint64(t), h.Count, 0.01)
	}
	if p >= alpha {
		return "", false
	}
	return fmt.Sprintf("; %.4g of %d samples above it (evenly spread within buckets), p99 above the limit at %s%%", t, h.Count, pct(1-alpha)), true
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
