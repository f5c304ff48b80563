// Package scrape measures what one read of 4,000 stand-in Istio sidecars costs sluice's
// controller: wall time, CPU time and allocations of envoy.Scraper and source.Destination.
package scrape

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/traffic"
)

const host = "reviews.default.svc.cluster.local"

func TestMain(m *testing.M) {
	if os.Getenv(standInEnv) != "" {
		runStandIns()
	}
	os.Exit(m.Run())
}

// standIns is the child process serving the endpoints.
type standIns struct {
	port, pageBytes int
	pid             int
}

func startStandIns(b *testing.B) standIns {
	b.Helper()
	if _, err := raiseNoFile(); err != nil {
		b.Fatalf("raising RLIMIT_NOFILE: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), standInEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting stand-ins: %v", err)
	}
	b.Cleanup(func() {
		_ = stdin.Close() // the child exits when its stdin closes
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var s standIns
	if _, scanErr := fmt.Sscanf(line, "ready %d %d", &s.port, &s.pageBytes); err != nil || scanErr != nil {
		b.Fatalf("stand-ins did not start: %q %v %v", line, err, scanErr)
	}
	s.pid = cmd.Process.Pid
	return s
}

// cpu is the process's user+system CPU time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is pid's user+system CPU time from /proc (clock ticks of 10 ms).
func childCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func request() source.Request {
	req := source.Request{Host: host, Namespace: "default", Subsets: map[string][]corev1.Pod{}}
	for i := range endpoints {
		subset := "v1"
		if (i%perOctet+1)%10 == 0 {
			subset = "v2"
		}
		name := fmt.Sprintf("reviews-%s-%d", subset, i)
		req.Subsets[subset] = append(req.Subsets[subset], corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
			Status:     corev1.PodStatus{PodIP: endpointIP(i)},
		})
	}
	return req
}

// fetchFuncAll reads every URL with Scraper.FetchFunc, bodies discarded.
func fetchFuncAll(s *envoy.Scraper, urls []string) int {
	var failed atomic.Int64
	var wg sync.WaitGroup
	for _, u := range urls {
		wg.Go(func() {
			if err := s.FetchFunc(context.Background(), u, func([]byte) error { return nil }); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	return int(failed.Load())
}

// BenchmarkScrape4000 reads 4,000 endpoints once per op:
//   - fetch/warm: envoy.Scraper.Fetch of every endpoint, bodies discarded, after a warm-up round;
//   - read/cold: source.Destination.Read with a new Scraper (every connection dialled);
//   - read/warm: source.Destination.Read with the Scraper of the previous reads;
//   - fetchfunc/warm: as fetch/warm with Scraper.FetchFunc (no copy of the body);
//   - report/cold, report/warm: as read/* with Scraper.FetchReport per endpoint (fetch +
//     Parse in the reused buffer + Report.Total), what pkg/source does once it calls it.
//
// Both use the controller's defaults (400 ms timeout, 64 scrapes in flight).
func BenchmarkScrape4000(b *testing.B) {
	si := startStandIns(b)
	req := request()
	opts := envoy.ScrapeOptions{Timeout: 400 * time.Millisecond, MaxConcurrent: 64}
	var urls []string
	for i := range endpoints {
		urls = append(urls, envoy.StatsURL(fmt.Sprintf("http://%s:%d/stats/prometheus", endpointIP(i), si.port), envoy.Query{Host: host}))
	}
	fetchAll := func(s *envoy.Scraper) int {
		var failed atomic.Int64
		var wg sync.WaitGroup
		for _, u := range urls {
			wg.Go(func() {
				if _, err := s.Fetch(context.Background(), u); err != nil {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		return int(failed.Load())
	}
	checkV2 := func(c traffic.Counts) {
		if c.Requests != 121465 || c.Rq5xx != 20 {
			b.Fatalf("v2 pod counts %+v, want 121465 requests, 20 5xx", c)
		}
	}
	// report reads every endpoint as source.Destination.Read does (one goroutine per
	// pod), with Scraper.FetchReport: the page is parsed in the scrape's reused buffer.
	report := func(s *envoy.Scraper) int {
		var failed, v2 atomic.Int64
		var bad atomic.Pointer[traffic.Counts]
		var wg sync.WaitGroup
		q := envoy.Query{Host: host, Side: envoy.Destination}
		for i, u := range urls {
			wg.Go(func() {
				rep, err := s.FetchReport(context.Background(), u, q)
				if err != nil {
					failed.Add(1)
					return
				}
				if t := rep.Total(); (i%perOctet+1)%10 == 0 {
					v2.Add(1)
					if t.Requests != 121465 || t.Rq5xx != 20 {
						bad.Store(&t)
					}
				}
			})
		}
		wg.Wait()
		if c := bad.Load(); c != nil || v2.Load() == 0 {
			b.Fatalf("%d v2 pods read, one with counts %+v, want 121465 requests, 20 5xx", v2.Load(), c)
		}
		return int(failed.Load())
	}
	read := func(d *source.Destination) int {
		snap, err := d.Read(context.Background(), req)
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
		if c := snap.Subsets["v2"].OK; len(c) > 0 {
			for _, v := range c {
				checkV2(v)
				break
			}
		}
		return failed
	}
	measure := func(b *testing.B, op func() int) {
		b.ReportAllocs()
		failed := 0
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0, s0 := cpu(), childCPU(si.pid)
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
		b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/n/(endpoints*float64(si.pageBytes)), "alloc-B/page-B")
		b.ReportMetric(float64(childCPU(si.pid)-s0)/1e6/n, "standin-cpu-ms/op")
		b.ReportMetric(float64(failed)/n, "failed/op")
		b.ReportMetric(float64(si.pageBytes), "page-bytes")
	}

	// scraper returns a new Scraper whose idle connections are closed when the sub-benchmark
	// ends: each keeps up to 4,000 open, and the stand-ins' file descriptors are bounded.
	scraper := func(b *testing.B) *envoy.Scraper {
		s := envoy.NewScraper(opts)
		b.Cleanup(s.CloseIdleConnections)
		return s
	}
	b.Run("fetch/warm", func(b *testing.B) {
		s := scraper(b)
		fetchAll(s)
		measure(b, func() int { return fetchAll(s) })
	})
	b.Run("read/cold", func(b *testing.B) {
		measure(b, func() int {
			return read(&source.Destination{Scraper: scraper(b), Port: si.port})
		})
	})
	b.Run("read/warm", func(b *testing.B) {
		d := &source.Destination{Scraper: scraper(b), Port: si.port}
		read(d)
		measure(b, func() int { return read(d) })
	})
	b.Run("fetchfunc/warm", func(b *testing.B) {
		s := scraper(b)
		fetchAll(s)
		measure(b, func() int { return fetchFuncAll(s, urls) })
	})
	b.Run("report/cold", func(b *testing.B) {
		measure(b, func() int { return report(scraper(b)) })
	})
	b.Run("report/warm", func(b *testing.B) {
		s := scraper(b)
		report(s)
		measure(b, func() int { return report(s) })
	})
}
