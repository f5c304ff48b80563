// Command detect is the detection bench: a seeded traffic simulator that drives the real
// window and analysis.Decide on a virtual clock and compares sluice's guard with a
// Flagger-style and an Argo-style rule on false rollbacks and detection time.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// recheck is the -recheck flag.
var recheck = true

func main() {
	out := flag.String("out", "bench/detect", "directory for results.json, README.md and detect.svg")
	healthyRuns := flag.Int("healthy-runs", 1000, "healthy runs per cell")
	faultyRuns := flag.Int("faulty-runs", 300, "faulty runs per cell")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.BoolVar(&recheck, "recheck", true, "let sluice look again sooner when a decision asks for it (false: every tick only, for comparison; prints, writes nothing)")
	only := flag.String("only", "", "run only the cells whose canary label contains this (for quick looks; prints, writes nothing)")
	flag.Parse()

	cells := grid()
	if *only != "" {
		cells = slices.DeleteFunc(cells, func(c cell) bool { return !strings.Contains(c.Canary, *only) })
	}
	results := make([]result, len(cells))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	start := time.Now()
	for i, c := range cells {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			runs := *faultyRuns
			if c.Healthy {
				runs = *healthyRuns
			}
			r := rand.New(rand.NewPCG(*seed, c.Stream))
			results[i] = measure(r, c, runs)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Round(time.Second)

	if *only != "" || !recheck {
		for _, r := range results {
			fmt.Printf("%-6g %-5s %-22s", r.Rate, pctStr(r.StableErr), r.Canary)
			for _, rr := range r.Rules {
				fmt.Printf(" | %d tripped, pre %d, %s / %s", rr.Tripped, rr.PreFault, secs(rr.MedianS), secs(rr.P99S))
			}
			fmt.Printf(" | %d looks, %d rechecks\n", r.Looks, r.Rechecks)
		}
		return
	}
	if err := write(*out, results, elapsed); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d cells in %s; wrote %s\n", len(cells), elapsed, *out)
}

// rates are the total request rates plus 400 req/s, where the 5 % step gives the
// canary the 20 req/s at which the 0.75 s goal for 100 % errors starts.
var rates = []float64{1, 10, 100, 400, 1000}

// p95Limit is the p95 cells' guard.maxLatency limit: on a bucket bound, above the healthy
// p95 (≈ 62 ms; 1 % of healthy requests take longer than 100 ms).
const p95Limit = 100 * time.Millisecond

// grid is the grid: total rate × canary condition × stable error, plus latency
// faults (canary latency ×3) with the latency rule on at p99 and at p95, in report order.
// Each cell's Stream numbers its random stream: the cells that came first keep theirs
// when cells are added (the p95 ones come after all others), so that their figures stay
// comparable from one report to the next.
func grid() []cell {
	var cells []cell
	for _, rate := range rates {
		for _, se := range []float64{0, 0.005, 0.02} {
			cells = append(cells,
				cell{Rate: rate, StableErr: se, Canary: "same as stable", CanaryErr: se, Healthy: true},
				cell{Rate: rate, StableErr: se, Canary: "+1 pt", CanaryErr: se + 0.01},
				cell{Rate: rate, StableErr: se, Canary: "+5 pt", CanaryErr: se + 0.05},
				cell{Rate: rate, StableErr: se, Canary: "50 %", CanaryErr: 0.5},
				cell{Rate: rate, StableErr: se, Canary: "100 %", CanaryErr: 1},
			)
		}
		cells = append(cells,
			cell{Rate: rate, Canary: "same, latency rule on", Latency: true, Healthy: true},
			cell{Rate: rate, Canary: "p99 ×3", Latency: true},
		)
	}
	for i := range cells {
		cells[i].Stream = uint64(i)
	}
	for _, rate := range rates {
		cells = append(cells,
			cell{Rate: rate, Canary: "same, p95 rules on", Latency: true, Quantile: 0.95, Limit: p95Limit, Healthy: true, Stream: uint64(len(cells))},
			cell{Rate: rate, Canary: "p95 ×3", Latency: true, Quantile: 0.95, Limit: p95Limit, Stream: uint64(len(cells) + 1)},
		)
	}
	slices.SortStableFunc(cells, func(a, b cell) int { return cmp.Compare(a.Rate, b.Rate) })
	return cells
}

// ruleResult summarises one rule over a cell's runs.
type ruleResult struct {
	Rule string
	// Tripped counts runs where the rule rolled back: in a healthy cell, false rollbacks;
	// in a faulty cell, PreFault of them happened before the fault (false too).
	Tripped, PreFault int
	// Detected counts faulty runs caught after the fault and within detectCap.
	Detected int
	// MedianS, P99S are detection times in seconds over all runs without a pre-fault
	// trip; a missed fault counts as +Inf (then reported as "> 60 s").
	MedianS, P99S float64
}

type result struct {
	cell
	CanaryRPS float64
	Runs      int
	Rules     [nRules]ruleResult
	// Looks counts sluice's ticks over all runs, Rechecks those that came early.
	Looks, Rechecks int
}

func measure(r *rand.Rand, c cell, runs int) result {
	res := result{cell: c, Runs: runs, CanaryRPS: c.Rate * faultWeight / 100}
	times := make([][]float64, nRules)
	for range runs {
		o := simulate(r, c)
		res.Looks += o.looks
		res.Rechecks += o.rechecks
		for k := range nRules {
			tr := o.trip[k]
			if tr >= 0 {
				res.Rules[k].Tripped++
			}
			if c.Healthy {
				continue
			}
			switch {
			case tr >= 0 && tr < o.faultAt:
				res.Rules[k].PreFault++
			case tr >= 0:
				res.Rules[k].Detected++
				times[k] = append(times[k], (tr - o.faultAt).Seconds())
			default:
				times[k] = append(times[k], inf)
			}
		}
	}
	for k := range nRules {
		res.Rules[k].Rule = ruleNames[k]
		res.Rules[k].MedianS, res.Rules[k].P99S = quantile(times[k], 0.5), quantile(times[k], 0.99)
	}
	return res
}

const inf = 1e18

// quantile is the nearest-rank quantile; −1 for no values.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return -1
	}
	s := slices.Clone(v)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func write(dir string, results []result, elapsed time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	js, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "detect.svg"), []byte(plot(results)), 0o644); err != nil {
		return fmt.Errorf("writing plot: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(report(results, elapsed)), 0o644); err != nil {
		return fmt.Errorf("writing report: %w", err)
	}
	return nil
}
