package window

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// maxTicks caps the ring however often Observe is called (at the default 500 ms tick a
// 10 s window holds 20); beyond it the oldest increments are dropped and Span shrinks.
const maxTicks = 4096

// maxPods caps how many pod series are remembered while some pods fail to be read.
const maxPods = 4096

// tick is one Observe call's increment.
type tick struct {
	at  time.Time
	inc Stats
	// p50, p99 are the computed quantiles the pods reported (0 when none did).
	p50, p99 float64
}

// Window tracks one subset across its pods. It is safe for concurrent use.
type Window struct {
	mu     sync.Mutex
	length time.Duration
	// pods holds each live pod identity's latest cumulative counts.
	pods  map[string]traffic.Counts
	ticks []tick
	// first is the time of the first Observe (the baseline): no window reaches before it.
	first time.Time
	// observed is whether Observe has run at all.
	observed    bool
	lastData    time.Time
	lastRequest time.Time
}

// New returns an empty window of the given length.
func New(length time.Duration) *Window {
	return &Window{length: length, pods: map[string]traffic.Counts{}}
}

// SetLength changes the window length; increments beyond it are pruned on the next Observe.
func (w *Window) SetLength(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.length = d
}

// Observe records one tick: the cumulative counts of every pod of the subset that was read
// OK, keyed by pod identity (which changes when a pod is recreated, e.g. "name/uid/ip"),
// and how many pods failed to be read. It returns this tick's increment.
//
// Series rules:
//   - a pod identity first seen is a baseline: its cumulative history predates the window,
//     so it adds nothing — except a pod recreated under the same name (the identity's part
//     before the first "/") as an identity that has just vanished: its counters started at
//     0 with the new pod, so its whole value is growth;
//   - a pod whose counter went down (same identity: Envoy restarted) is a reset: its new
//     value becomes the baseline and it adds nothing this tick;
//   - a pod missing from ok has vanished and drops out; failed pods are only counted,
//     their last counts are kept so that the next successful read continues the series.
func (w *Window) Observe(now time.Time, ok map[string]traffic.Counts, failed int) Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	if failed < 0 {
		failed = 0
	}
	inc := Stats{Pods: len(ok), FailedPods: failed}
	if n := len(w.ticks); n > 0 {
		inc.Span = nonNegative(now.Sub(w.ticks[n-1].at))
	} else if w.observed {
		inc.Span = nonNegative(now.Sub(w.first))
	}

	restarted := w.restartedNames(ok, failed)
	next := make(map[string]traffic.Counts, len(ok))
	var p50, p99 float64
	for id, cur := range ok {
		next[id] = cur
		p50, p99 = math.Max(p50, finite(cur.P50)), math.Max(p99, finite(cur.P99))
		prev, known := w.pods[id]
		if !known {
			if !w.observed || !restarted[podName(id)] {
				continue // baseline
			}
			prev = traffic.Counts{} // recreated pod: growth since 0
		}
		d, grew := delta(cur, prev)
		if !grew {
			continue // reset: the new value is the baseline
		}
		addCounts(&inc, d)
	}
	// Failed pods are not in ok, and which known pods failed is not said: while any pod
	// failed, keep every known pod's last counts so that a failed pod's series continues on
	// its next good read (bounded by maxPods; the rest drop out).
	if failed > 0 {
		for id, c := range w.pods {
			if _, seen := next[id]; !seen && len(next) < maxPods {
				next[id] = c
			}
		}
	}
	w.pods = next

	if !w.observed {
		w.observed, w.first = true, now
	}
	if len(ok) > 0 {
		w.lastData = laterOf(w.lastData, now)
	}
	if inc.Requests > 0 {
		w.lastRequest = laterOf(w.lastRequest, now)
	}
	inc.P50, inc.P99 = quantiles(inc.Latency, inc.Requests, p50, p99)
	inc.LastData, inc.LastRequest = w.lastData, w.lastRequest

	w.ticks = append(w.ticks, tick{at: now, inc: inc, p50: p50, p99: p99})
	w.prune(now)
	return inc
}

// Stats returns the window ending at now: the sum of the increments of the ticks in
// (now−length, now] (the increment at now−length covers time before it), with latency
// quantiles from the summed histogram deltas, or, when the pods only report computed
// quantiles, the latest ones reported within the window.
func (w *Window) Stats(now time.Time) Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.statsOver(now, w.length)
}

// StatsSince returns the trailing part of the window ending at now: the increments of the
// ticks in (now−d, now], summed like Stats. d is capped at the window length (older
// increments are not kept); d ≤ 0 yields an empty span. The guard tests such trailing
// sub-windows so that a fault is not diluted by the healthy traffic earlier in the window.
func (w *Window) StatsSince(now time.Time, d time.Duration) Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.statsOver(now, max(min(d, w.length), 0))
}

// statsOver sums the increments in (now−length, now]; w.mu is held.
func (w *Window) statsOver(now time.Time, length time.Duration) Stats {
	start := now.Add(-length)
	var s Stats
	var p50, p99 float64
	var latest time.Time
	found := false
	for _, t := range w.ticks {
		if !t.at.After(start) || t.at.After(now) {
			continue
		}
		s.Requests = addSat(s.Requests, t.inc.Requests)
		s.Rq2xx = addSat(s.Rq2xx, t.inc.Rq2xx)
		s.Rq4xx = addSat(s.Rq4xx, t.inc.Rq4xx)
		s.Rq5xx = addSat(s.Rq5xx, t.inc.Rq5xx)
		s.Latency = addHistogram(s.Latency, t.inc.Latency)
		if !found || !t.at.Before(latest) {
			latest, found = t.at, true
			s.Pods, s.FailedPods = t.inc.Pods, t.inc.FailedPods
			p50, p99 = t.p50, t.p99
		}
	}
	s.P50, s.P99 = quantiles(s.Latency, s.Requests, p50, p99)
	if w.observed && !now.Before(w.first) {
		s.Span = now.Sub(laterOf(start, w.first))
	}
	if !w.lastData.After(now) {
		s.LastData = w.lastData
	}
	if !w.lastRequest.After(now) {
		s.LastRequest = w.lastRequest
	}
	return s
}

// restartedNames returns the pod names (identity before the first "/") of identities that
// vanished this tick, for which a new identity of the same name appeared: recreated pods.
// It is empty when pods failed to be read, since a failed pod is not known to be gone.
func (w *Window) restartedNames(ok map[string]traffic.Counts, failed int) map[string]bool {
	if failed > 0 || !w.observed {
		return nil
	}
	var gone map[string]bool
	for id := range w.pods {
		if _, still := ok[id]; !still {
			if gone == nil {
				gone = map[string]bool{}
			}
			gone[podName(id)] = true
		}
	}
	return gone
}

// prune drops increments that can no longer fall in a window ending at or after now.
func (w *Window) prune(now time.Time) {
	start := now.Add(-w.length)
	drop := 0
	for drop < len(w.ticks) && !w.ticks[drop].at.After(start) {
		drop++
	}
	if over := len(w.ticks) - drop - maxTicks; over > 0 {
		drop += over
	}
	if drop == 0 {
		return
	}
	// Re-slice, and copy into a fresh backing array only once the dropped prefix
	// outgrows the live part, so pruning stays amortised O(1) and memory stays ≤ 2× live.
	w.ticks = w.ticks[drop:]
	if cap(w.ticks) > 2*len(w.ticks)+16 {
		w.ticks = append(make([]tick, 0, 2*len(w.ticks)+16), w.ticks...)
	}
}

// delta returns cur − prev and true, or false when any counter went down (a reset).
// A histogram whose bounds changed contributes nothing but does not void the counters.
func delta(cur, prev traffic.Counts) (Stats, bool) {
	if cur.Requests < prev.Requests || cur.Rq2xx < prev.Rq2xx || cur.Rq3xx < prev.Rq3xx ||
		cur.Rq4xx < prev.Rq4xx || cur.Rq5xx < prev.Rq5xx || cur.Latency.Count < prev.Latency.Count {
		return Stats{}, false
	}
	d := Stats{
		Requests: cur.Requests - prev.Requests,
		Rq2xx:    cur.Rq2xx - prev.Rq2xx,
		Rq4xx:    cur.Rq4xx - prev.Rq4xx,
		Rq5xx:    cur.Rq5xx - prev.Rq5xx,
	}
	if h, ok := histogramDelta(cur.Latency, prev.Latency); ok && h.Count > 0 {
		d.Latency = h
	}
	return d, true
}

func addCounts(s *Stats, d Stats) {
	s.Requests = addSat(s.Requests, d.Requests)
	s.Rq2xx = addSat(s.Rq2xx, d.Rq2xx)
	s.Rq4xx = addSat(s.Rq4xx, d.Rq4xx)
	s.Rq5xx = addSat(s.Rq5xx, d.Rq5xx)
	s.Latency = addHistogram(s.Latency, d.Latency)
}

// quantiles prefers the histogram; without one it falls back to computed quantiles when
// there were requests; NaN when there is nothing to go on.
func quantiles(h traffic.Histogram, requests uint64, p50, p99 float64) (float64, float64) {
	if h.Count > 0 {
		return Quantile(h, 0.5), Quantile(h, 0.99)
	}
	if requests > 0 && p99 > 0 {
		return p50, p99
	}
	return nan(), nan()
}

func podName(id string) string {
	if i := strings.IndexByte(id, '/'); i >= 0 {
		return id[:i]
	}
	return id
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return 0
	}
	return x
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func nonNegative(d time.Duration) time.Duration {
	return max(d, 0)
}
