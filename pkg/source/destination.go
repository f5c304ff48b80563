package source

import (
	"context"
	"fmt"
	"sync"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// Destination reads each subset pod's own sidecar (`:15090/stats/prometheus`,
// istio_requests_total{reporter="destination"} and its duration histogram): the pod's
// Report.Total() is that pod's cumulative counts.
type Destination struct {
	// Scraper fetches the pages; it bounds concurrency, time and size.
	Scraper *envoy.Scraper
	// Port and Path locate the stats endpoint (defaults DefaultPort, DefaultPath).
	Port int
	Path string
}

// Read scrapes every pod of every subset concurrently. A pod that cannot be fetched or
// parsed counts as Failed in its subset.
func (d *Destination) Read(ctx context.Context, req Request) (Snapshot, error) {
	if d.Scraper == nil {
		return Snapshot{}, fmt.Errorf("reading destination-side stats of %s: no scraper", req.Host)
	}
	q := envoy.Query{Host: req.Host, Side: envoy.Destination}
	out := newSubsets(req)
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for subset, pods := range req.Subsets {
		for i := range pods {
			p := &pods[i]
			wg.Go(func() {
				c, err := d.readPod(ctx, statsURL(p.Status.PodIP, d.Port, d.Path, q), q)
				mu.Lock()
				defer mu.Unlock()
				s := out[subset]
				if err != nil {
					s.Failed++
					out[subset] = s
					return
				}
				s.OK[PodIdentity(p)] = c
			})
		}
	}
	wg.Wait()
	return Snapshot{Subsets: out}, nil
}

func (d *Destination) readPod(ctx context.Context, url string, q envoy.Query) (traffic.Counts, error) {
	rep, err := d.Scraper.FetchReport(ctx, url, q)
	if err != nil {
		return traffic.Counts{}, err
	}
	return rep.Total(), nil
}
