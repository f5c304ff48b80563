package scrape

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// rig is the stand-ins and what every op reads from them.
type rig struct {
	si   standIns
	req  source.Request
	urls []string // endpoint i's filtered stats URL
	opts envoy.ScrapeOptions
}

func newRig(b *testing.B) *rig {
	r := &rig{si: startStandIns(b), req: request(), opts: envoy.ScrapeOptions{Timeout: 400 * time.Millisecond, MaxConcurrent: 64}}
	for i := range endpoints {
		r.urls = append(r.urls, envoy.StatsURL(fmt.Sprintf("http://%s:%d/stats/prometheus", endpointIP(i), r.si.port), envoy.Query{Host: host}))
	}
	return r
}

// scraper returns a new Scraper whose idle connections are closed when the sub-benchmark
// ends: each keeps up to 4,000 open, and the stand-ins' file descriptors are bounded.
func (r *rig) scraper(b *testing.B) *envoy.Scraper {
	s := envoy.NewScraper(r.opts)
	b.Cleanup(s.CloseIdleConnections)
	return s
}

// each runs read for every endpoint at once, one goroutine each, and returns how many failed.
func (r *rig) each(read func(i int, url string) error) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	for i, u := range r.urls {
		wg.Go(func() {
			if err := read(i, u); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// fetchAll reads every endpoint with Scraper.Fetch, bodies discarded.
func (r *rig) fetchAll(s *envoy.Scraper) int {
	return r.each(func(_ int, u string) error {
		_, err := s.Fetch(context.Background(), u)
		return err
	})
}

// fetchFuncAll reads every endpoint with Scraper.FetchFunc, bodies discarded.
func (r *rig) fetchFuncAll(s *envoy.Scraper) int {
	return r.each(func(_ int, u string) error {
		return s.FetchFunc(context.Background(), u, func([]byte) error { return nil })
	})
}

// isV2 reports whether endpoint i serves subset v2 (one in ten, as the stand-ins do).
func isV2(i int) bool { return (i%perOctet+1)%10 == 0 }

// wantV2 reports whether c is what a v2 stand-in's page counts.
func wantV2(c traffic.Counts) bool { return c.Requests == 121465 && c.Rq5xx == 20 }

// report reads every endpoint as source.Destination.Read does (one goroutine per pod),
// with Scraper.FetchReport: the page is parsed in the scrape's reused buffer.
func (r *rig) report(b *testing.B, s *envoy.Scraper) int {
	var v2 atomic.Int64
	var bad atomic.Pointer[traffic.Counts]
	q := envoy.Query{Host: host, Side: envoy.Destination}
	failed := r.each(func(i int, u string) error {
		rep, err := s.FetchReport(context.Background(), u, q)
		if t := rep.Total(); err == nil && isV2(i) {
			v2.Add(1)
			if !wantV2(t) {
				bad.Store(&t)
			}
		}
		return err
	})
	if c := bad.Load(); c != nil || v2.Load() == 0 {
		b.Fatalf("%d v2 pods read, one with counts %+v, want 121465 requests, 20 5xx", v2.Load(), c)
	}
	return failed
}

// read reads every endpoint with source.Destination.Read.
func (r *rig) read(b *testing.B, d *source.Destination) int {
	snap, err := d.Read(context.Background(), r.req)
	if err != nil {
		b.Fatal(err)
	}
	failed, ok := 0, 0
	for _, s := range snap.Subsets {
		failed += s.Failed
		ok += len(s.OK)
	}
	if ok+failed != endpoints {
		b.Fatalf("read %d ok + %d failed, want %d endpoints", ok, failed, endpoints)
	}
	for _, v := range snap.Subsets["v2"].OK {
		if !wantV2(v) {
			b.Fatalf("v2 pod counts %+v, want 121465 requests, 20 5xx", v)
		}
		break
	}
	return failed
}

// measure runs op b.N times and reports its CPU (per read and per page), the stand-ins'
// CPU, the bytes allocated per byte received and the endpoints that failed.
func (r *rig) measure(b *testing.B, op func() int) {
	b.ReportAllocs()
	failed := 0
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0, s0 := cpu(), childCPU(r.si.pid)
	b.ResetTimer()
	for range b.N {
		failed += op()
	}
	b.StopTimer()
	c1 := cpu()
	runtime.ReadMemStats(&m1)
	n := float64(b.N)
	b.ReportMetric(float64(c1-c0)/1e6/n, "cpu-ms/op")
	b.ReportMetric(float64(c1-c0)/1e3/n/endpoints, "cpu-us/page")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/n/(endpoints*float64(r.si.pageBytes)), "alloc-B/page-B")
	b.ReportMetric(float64(childCPU(r.si.pid)-s0)/1e6/n, "standin-cpu-ms/op")
	b.ReportMetric(float64(failed)/n, "failed/op")
	b.ReportMetric(float64(r.si.pageBytes), "page-bytes")
}
