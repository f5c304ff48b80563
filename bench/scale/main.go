// Command scale measures what one controller carries: the real sluice binary as a
// separate process against the real kube-apiserver and etcd, N opted-in Services (10 to a
// namespace) with VirtualService, DestinationRule and four stand-in pods each, all read
// through a few shared caller stand-ins (an ingress gateway whose stats page carries every
// Service's host), each rollout held at its 5 % step. For each N it measures over a steady
// window the controller's CPU and peak RSS, tick lag and duration (its own metrics),
// ticks per rollout per second, scrapes at the callers, the API server's requests by verb
// and resource and its CPU; then fault → canary weight 0 for one bad canary among the N.
// It writes results.json (merging the Ns it ran into the ones there) and README.md.
// Run it with `make bench-scale`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	var o options
	ns := flag.String("n", "10,100,1000", "comma-separated numbers of active rollouts, each measured on a fresh API server")
	flag.DurationVar(&o.Window, "window", 60*time.Second, "steady window measured at each N")
	flag.IntVar(&o.Faults, "faults", 20, "fault → weight 0 runs at each N")
	flag.DurationVar(&o.FaultBudget, "fault-budget", 8*time.Minute, "time after which no further fault run starts")
	flag.IntVar(&o.Callers, "callers", 3, "shared caller (gateway) pods")
	flag.Float64Var(&o.Rate, "rate", 20, "requests per second to each Service (the canary gets 5 %)")
	flag.Float64Var(&o.BadRate, "bad-rate", 400, "requests per second to the Service whose canary goes bad")
	flag.StringVar(&o.Sluice, "sluice", "", "a prebuilt sluice binary to measure (default: build ./cmd/sluice of this checkout)")
	sluiceFlags := flag.String("sluice-flags", "", "extra flags for sluice, space-separated (e.g. --workers=16); recorded with each N")
	flag.BoolVar(&o.Keep, "keep", false, "keep the work directory (sluice's binary, logs and CPU profiles) after a successful run")
	out := flag.String("out", "bench/scale", "directory for results.json and README.md")
	reportOnly := flag.Bool("report-only", false, "rebuild README.md from the directory's results.json")
	flag.Parse()
	o.SluiceFlags = strings.Fields(*sluiceFlags)
	var err error
	if *reportOnly {
		err = rewrite(*out)
	} else if o.Ns, err = parseNs(*ns); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
		err = run(ctx, o, *out)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/scale:", err)
		os.Exit(1)
	}
}

// options are one invocation's settings.
type options struct {
	Ns            []int
	Window        time.Duration
	Faults        int
	FaultBudget   time.Duration
	Callers       int
	Rate, BadRate float64
	Sluice        string
	SluiceFlags   []string
	Keep          bool
}

func parseNs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 5000 {
			return nil, fmt.Errorf("-n: %q is not a number of rollouts in 1..5000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// results are the measurements of every N, smallest first.
type results struct {
	Points []point `json:"points"`
}

// point is one N's measurements.
type point struct {
	N              int       `json:"n"`
	Started        time.Time `json:"started"`
	Callers        int       `json:"callers"`
	SluiceFlags    []string  `json:"sluiceFlags,omitempty"`
	Rate           float64   `json:"ratePerService"`
	WindowSeconds  float64   `json:"windowSeconds"`
	SetupSeconds   float64   `json:"setupSeconds"`
	GatewayPageKiB float64   `json:"gatewayPageKiB"`
	// Phases counts the TrafficShifts by phase at the end of the window.
	Phases map[string]int `json:"phases"`

	SluiceCores     float64 `json:"sluiceCores"`
	SluicePeakMiB   float64 `json:"sluicePeakRSSMiB"`
	APIServerCores  float64 `json:"apiServerCores"`
	EtcdCores       float64 `json:"etcdCores"`
	HarnessCores    float64 `json:"harnessCores"`
	TickLagMeanMs   float64 `json:"tickLagMeanMillis"`
	TickLagP50Ms    float64 `json:"tickLagP50Millis"`
	TickLagP99Ms    float64 `json:"tickLagP99Millis"`
	TickLagAbove    bool    `json:"tickLagP99AboveTopBucket"`
	TickP50Ms       float64 `json:"tickDurationP50Millis"`
	TickP99Ms       float64 `json:"tickDurationP99Millis"`
	TickMeanMs      float64 `json:"tickDurationMeanMillis"`
	TicksPerRollout float64 `json:"ticksPerRolloutPerSecond"`
	QueueWaitMeanMs float64 `json:"queueWaitMeanMillis"`
	ScrapesPerS     float64 `json:"scrapesPerSecond"`
	// APIPerS is the API server's requests per second by "VERB resource[/sub]".
	APIPerS map[string]float64 `json:"apiRequestsPerSecond"`

	FaultToZeroMs []float64 `json:"faultToZeroMillis"`
	// Profile is the top of a CPU profile of the controller taken in the window.
	Profile []string `json:"profileTop,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

func write(dir string, r results) error {
	slices.SortFunc(r.Points, func(a, b point) int { return a.N - b.N })
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	analysis, err := os.ReadFile(filepath.Join(dir, "analysis.md"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(report(r, analysis)), 0o644)
}

func load(dir string) (results, error) {
	var r results
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(data, &r)
}

// merge replaces the point with p's N, or adds p.
func (r *results) merge(p point) {
	r.Points = slices.DeleteFunc(r.Points, func(q point) bool { return q.N == p.N })
	r.Points = append(r.Points, p)
}

func rewrite(dir string) error {
	r, err := load(dir)
	if err != nil {
		return err
	}
	return write(dir, r)
}
