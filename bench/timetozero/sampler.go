package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// sample is one scrape of the caller's stats page, as a Prometheus scraping it every
// second would store it: the canary's and stable's cumulative upstream counters.
type sample struct {
	At             time.Time
	Canary, Stable traffic.Counts
}

// sampler scrapes a stats page every interval into a series until stopped.
type sampler struct {
	mu      sync.Mutex
	samples []sample
	errs    int
	stop    context.CancelFunc
	done    chan struct{}
}

// startSampler scrapes url every interval (the first scrape at once) for host's canary
// and stable subsets.
func startSampler(ctx context.Context, url, host, canary, stable string, interval time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		next := time.Now()
		for {
			at := time.Now()
			cs, err := scrapeSubsets(ctx, url, host)
			s.mu.Lock()
			if err != nil {
				s.errs++ // a failed scrape leaves a gap, as in Prometheus
			} else {
				s.samples = append(s.samples, sample{At: at, Canary: cs[canary], Stable: cs[stable]})
			}
			s.mu.Unlock()
			next = next.Add(interval)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(next)):
			}
		}
	}()
	return s
}

// Stop ends scraping and returns the series and the number of failed scrapes.
func (s *sampler) Stop() ([]sample, int) {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples, s.errs
}

// scrapeSubsets reads url's caller-side counts of host per subset.
func scrapeSubsets(ctx context.Context, url, host string) (map[string]traffic.Counts, error) {
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building the scrape of %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the scrape of %s: %w", url, err)
	}
	// Subset counts as sluice reads them: the cluster stats, plus the gRPC failures the
	// backends answered (200 there) from the page's Istio metrics, as a Prometheus query
	// reading grpc_response_status would count them.
	rep, err := envoy.Parse(data, envoy.Query{Host: host, Side: envoy.Source})
	if err != nil {
		return nil, fmt.Errorf("parsing the scrape of %s: %w", url, err)
	}
	return rep.MoveGRPCFailures(nil).Subsets, nil
}

// rebase makes the series start from zero at its first sample, as if the canary's series
// were born with the rollout (each rollout's canary is a new deployment in practice), so a
// window never sees an earlier run's calls.
func rebase(ss []sample) []sample {
	if len(ss) == 0 {
		return nil
	}
	base := ss[0]
	out := make([]sample, len(ss))
	for i, s := range ss {
		out[i] = sample{At: s.At, Canary: sub(s.Canary, base.Canary), Stable: sub(s.Stable, base.Stable)}
	}
	return out
}

// extend appends copies of the last sample every interval until end: once the canary is
// out of the route its counters cannot move, so the scrapes a real Prometheus would have
// taken are known.
func extend(ss []sample, interval time.Duration, end time.Time) []sample {
	if len(ss) == 0 {
		return ss
	}
	last := ss[len(ss)-1]
	for at := last.At.Add(interval); !at.After(end); at = at.Add(interval) {
		ss = append(ss, sample{At: at, Canary: last.Canary, Stable: last.Stable})
	}
	return ss
}

// sub is a − b for the counters a window needs (requests, 5xx, latency histogram).
func sub(a, b traffic.Counts) traffic.Counts {
	d := traffic.Counts{Requests: a.Requests - b.Requests, Rq5xx: a.Rq5xx - b.Rq5xx}
	h, hb := a.Latency, b.Latency
	d.Latency = traffic.Histogram{Bounds: h.Bounds, Count: h.Count - hb.Count, Sum: h.Sum - hb.Sum}
	if len(h.Counts) > 0 {
		d.Latency.Counts = make([]uint64, len(h.Counts))
		for i, c := range h.Counts {
			if i < len(hb.Counts) {
				c -= hb.Counts[i]
			}
			d.Latency.Counts[i] = c
		}
	}
	return d
}
