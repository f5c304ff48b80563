package window

import (
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// Stats summarise one subset's traffic over a window (or over one tick's increment).
type Stats struct {
	// Requests, Rq2xx, Rq4xx, Rq5xx are deltas over the covered span.
	Requests, Rq2xx, Rq4xx, Rq5xx uint64
	// Latency is the histogram delta over the span (empty when no histogram was seen).
	Latency traffic.Histogram
	// P50, P99 are latency quantiles in ms over the span, interpolated like Prometheus'
	// histogram_quantile; NaN when there are no samples.
	P50, P99 float64
	// Span is how much time the window actually covers (<= its length).
	Span time.Duration
	// Pods is the number of pods that contributed; FailedPods the number whose latest
	// scrape failed.
	Pods, FailedPods int
	// LastData is when this subset was last read successfully from at least one pod;
	// zero if never.
	LastData time.Time
	// LastRequest is when this subset's request counters last grew; zero if never seen.
	LastRequest time.Time
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the span's latency in ms. With a
// histogram delta it is computed from it, interpolated like P50 and P99; sources that
// report only computed quantiles (Envoy's text and JSON stats) carry P50 and P99 alone, so
// without a histogram q = 0.5 and q = 0.99 give those and any other q is NaN (no data).
// NaN when there are no samples.
func (s Stats) Quantile(q float64) float64 {
	if s.Latency.Count > 0 {
		return Quantile(s.Latency, q)
	}
	switch q {
	case 0.5:
		return s.P50
	case 0.99:
		return s.P99
	}
	return nan()
}

// Errors is the number of failed requests in the span (5xx).
func (s Stats) Errors() uint64 { return s.Rq5xx }

// ErrorRate is Errors/Requests, NaN without requests.
func (s Stats) ErrorRate() float64 {
	if s.Requests == 0 {
		return nan()
	}
	return float64(s.Rq5xx) / float64(s.Requests)
}
