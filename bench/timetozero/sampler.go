package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// sample is one scrape of the caller's stats page, as a Prometheus scraping it every
// second would store it: the canary's and stable's cumulative upstream counters.
type sample struct {
	At             time.Time
	Canary, Stable envoy.Counts
}

// sampler scrapes a stats page every interval into a series until stopped.
type sampler struct {
	mu      sync.Mutex
	samples []sample
	errs    int
	stop    context.CancelFunc
	done    chan struct{}
}

// startSampler scrapes url every interval (the first scrape at once); canary and stable
// are the caller-side cluster names outbound|PORT|SUBSET|HOST.
func startSampler(ctx context.Context, url, canary, stable string, interval time.Duration) *sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &sampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		next := time.Now()
		for {
			at := time.Now()
			cs, err := scrapeClusters(ctx, url)
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

func scrapeClusters(ctx context.Context, url string) (map[string]envoy.Counts, error) {
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
	cs, err := envoy.ParseClusters(data)
	if err != nil {
		return nil, fmt.Errorf("parsing the scrape of %s: %w", url, err)
	}
	// gRPC failures the backends answered are 200 in Envoy's cluster stats; the page's
	// Istio metrics carry them. Count them as Prometheus queries that read
	// grpc_response_status would (and as sluice does).
	byHost := map[string]envoy.Report{}
	for name := range cs {
		parts := strings.Split(name, "|")
		if len(parts) != 4 {
			continue
		}
		host, subset := parts[3], parts[2]
		rep, ok := byHost[host]
		if !ok {
			if rep, err = envoy.Parse(data, envoy.Query{Host: host, Side: envoy.Source}); err != nil {
				return nil, fmt.Errorf("parsing the scrape of %s for %s: %w", url, host, err)
			}
			rep = rep.MoveGRPCFailures(nil)
			byHost[host] = rep
		}
		if c, ok := rep.Subsets[subset]; ok {
			cs[name] = c
		}
	}
	return cs, nil
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
func sub(a, b envoy.Counts) envoy.Counts {
	d := envoy.Counts{Requests: a.Requests - b.Requests, Rq5xx: a.Rq5xx - b.Rq5xx}
	h, hb := a.Latency, b.Latency
	d.Latency = envoy.Histogram{Bounds: h.Bounds, Count: h.Count - hb.Count, Sum: h.Sum - hb.Sum}
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
