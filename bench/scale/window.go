package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sample is everything read at one instant of the window.
type sample struct {
	at                            time.Time
	sluice, apiserver, etcd, self procSample
	api, ctrl                     map[string]*dto.MetricFamily
	scrapes                       uint64
}

func (b *bench) sample(ctx context.Context) (sample, error) {
	s := sample{at: time.Now(), scrapes: b.gw.Served()}
	pids := map[*procSample]int{&s.sluice: b.ctrl.Pid(), &s.self: os.Getpid()}
	for ps, comm := range map[*procSample]string{&s.apiserver: "kube-apiserver", &s.etcd: "etcd"} {
		pid, err := childPID(comm)
		if err != nil {
			return s, err
		}
		pids[ps] = pid
	}
	for ps, pid := range pids {
		v, err := readProc(pid)
		if err != nil {
			return s, err
		}
		*ps = v
	}
	raw, err := b.kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return s, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	if s.api, err = families(raw); err != nil {
		return s, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	if raw, err = get(ctx, b.metrics); err != nil {
		return s, fmt.Errorf("reading sluice's metrics: %w", err)
	}
	if s.ctrl, err = families(raw); err != nil {
		return s, fmt.Errorf("parsing sluice's metrics: %w", err)
	}
	return s, nil
}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// window measures the steady window, profiling the controller for half of it.
func (b *bench) window(ctx context.Context, p *point) error {
	page, err := get(ctx, "http://127.9.0.1:15090/stats/prometheus")
	if err != nil {
		return fmt.Errorf("reading a gateway page: %w", err)
	}
	p.GatewayPageKiB = float64(len(page)) / 1024
	first, err := b.sample(ctx)
	if err != nil {
		return err
	}
	prof := make(chan string, 1)
	go func() { prof <- b.profile(ctx, b.o.Window/2) }()
	time.Sleep(b.o.Window)
	last, err := b.sample(ctx)
	if err != nil {
		return err
	}
	p.Profile = top(ctx, <-prof) // after the window: pprof's own CPU stays out of it
	if p.Phases, _, err = b.phases(ctx); err != nil {
		return err
	}
	summarize(p, b.n, first, last)
	return nil
}

// summarize fills p from the window's first and last samples.
func summarize(p *point, n int, first, last sample) {
	secs := last.at.Sub(first.at).Seconds()
	p.WindowSeconds = secs
	cores := func(a, b procSample) float64 { return (b.CPUSeconds - a.CPUSeconds) / secs }
	p.SluiceCores, p.APIServerCores = cores(first.sluice, last.sluice), cores(first.apiserver, last.apiserver)
	p.EtcdCores, p.HarnessCores = cores(first.etcd, last.etcd), cores(first.self, last.self)
	p.SluicePeakMiB = float64(last.sluice.PeakRSS) / (1 << 20)

	lag := histogram(last.ctrl, "sluice_tick_lag_seconds", nil).minus(histogram(first.ctrl, "sluice_tick_lag_seconds", nil))
	p50, _ := lag.quantile(0.5)
	p99, above := lag.quantile(0.99)
	p.TickLagP50Ms, p.TickLagP99Ms, p.TickLagAbove, p.TickLagMeanMs = p50*1000, p99*1000, above, lag.mean()*1000
	p.TicksPerRollout = lag.Count / secs / float64(n)
	dur := histogram(last.ctrl, "sluice_tick_duration_seconds", nil).minus(histogram(first.ctrl, "sluice_tick_duration_seconds", nil))
	d50, _ := dur.quantile(0.5)
	d99, _ := dur.quantile(0.99)
	p.TickP50Ms, p.TickP99Ms, p.TickMeanMs = d50*1000, d99*1000, dur.mean()*1000
	queue := histogram(last.ctrl, "workqueue_queue_duration_seconds", nil).minus(histogram(first.ctrl, "workqueue_queue_duration_seconds", nil))
	p.QueueWaitMeanMs = queue.mean() * 1000
	p.ScrapesPerS = float64(last.scrapes-first.scrapes) / secs

	before := apiRequests(first.api)
	p.APIPerS = map[string]float64{}
	for k, v := range apiRequests(last.api) {
		if d := v - before[k]; d > 0 {
			p.APIPerS[k] = d / secs
		}
	}
}

// profile takes a CPU profile of the controller and returns its file ("" if it failed).
func (b *bench) profile(ctx context.Context, d time.Duration) string {
	data, err := get(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", b.pprof, int(d.Seconds())))
	if err != nil {
		fmt.Println("profiling sluice:", err)
		return ""
	}
	path := filepath.Join(b.dir, fmt.Sprintf("cpu-%d.pprof", b.n))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fmt.Println("profiling sluice:", err)
		return ""
	}
	return path
}

// top is the head of `go tool pprof -top` of the profile at path.
func top(ctx context.Context, path string) []string {
	if path == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=25", path).Output()
	if err != nil {
		return []string{"pprof failed: " + err.Error()}
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "Duration:") {
			return lines[i:]
		}
	}
	return lines
}
