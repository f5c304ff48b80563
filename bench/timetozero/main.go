// Command timetozero measures, on the mesh lab (real kube-apiserver, real istiod, real
// proxyless gRPC calls), how long sluice takes from a canary fault to the last canary
// call, segment by segment, beside Flagger- and Argo-style rules evaluated as shadows on
// the same runs, and how often each rolls back a healthy canary.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/e2e/meshlab"
)

type options struct {
	runs, controlRuns int
	controlObs        time.Duration
	out               string
	seed              uint64
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 30, "rollouts per faulty scenario and step")
	flag.IntVar(&o.controlRuns, "control-runs", -1, "rollouts per healthy control (default: -runs)")
	flag.DurationVar(&o.controlObs, "control-obs", 22*time.Second, "observation of a control run from step 1 applied")
	flag.StringVar(&o.out, "out", "bench/timetozero", "directory for README.md, results.json and timeline.svg")
	flag.Float64Var(&rate, "rate", rate, "calls per second of the gateway caller (the canary gets 5 % and 25 % of them)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the fault times and the baselines' check phases")
	only := flag.Bool("report-only", false, "rebuild README.md and timeline.svg from -out/results.json")
	flag.Parse()
	if *only {
		if err := reportOnly(o.out, o); err != nil {
			fmt.Fprintln(os.Stderr, "timetozero:", err)
			os.Exit(1)
		}
		return
	}
	if o.controlRuns < 0 {
		o.controlRuns = o.runs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "timetozero:", err)
		os.Exit(1)
	}
}

// healthyBackendMs is how long every backend takes to answer when healthy.
const healthyBackendMs = 10

func scenarios() []scenario {
	return []scenario{
		{Name: "errors-100%", beh: func(h meshlab.Behaviour) meshlab.Behaviour {
			h.ErrorRate, h.ErrorCode = 1, codes.Internal
			return h
		}},
		{Name: "errors-30%", beh: func(h meshlab.Behaviour) meshlab.Behaviour {
			h.ErrorRate, h.ErrorCode = 0.3, codes.Internal
			return h
		}},
		{Name: "latency-x5", beh: func(h meshlab.Behaviour) meshlab.Behaviour {
			h.Latency *= 5
			return h
		}},
	}
}

func controls() []scenario {
	return []scenario{
		{Name: "control-same-0.5%", Control: true, beh: func(h meshlab.Behaviour) meshlab.Behaviour {
			h.ErrorRate, h.ErrorCode = 0.005, codes.Internal
			return h
		}},
		{Name: "control-idle", Control: true, idle: true, beh: func(h meshlab.Behaviour) meshlab.Behaviour { return h }},
	}
}

func run(ctx context.Context, o options) (err error) {
	if err := checkOut(o.out); err != nil {
		return err
	}
	log.SetLogger(logr.Discard())
	begin := time.Now()
	b := &bench{rng: rand.New(rand.NewPCG(o.seed, 0x5eed)), healthy: meshlab.Behaviour{Latency: healthyBackendMs * time.Millisecond}}
	var healthyP99 float64
	sl, err := meshlab.StartWithSluice(ctx, meshlab.SluiceLabConfig{
		Lab: meshlab.Config{
			Subsets: []meshlab.Subset{{Name: stable, Pods: 2}, {Name: canary, Pods: 2}},
			Callers: 1, Rate: rate,
			Istiod: meshlab.IstiodOptions{BinDir: os.Getenv("SLUICE_ISTIOD_BIN")},
		},
		Confirm: meshlab.ConfirmAtCallers,
		LogPath: filepath.Join(os.TempDir(), fmt.Sprintf("sluice-timetozero-%d.log", os.Getpid())),
		// The healthy latency is measured before sluice runs in this process.
		BeforeSluice: func(ctx context.Context, lab *meshlab.Lab) (err error) {
			b.lab = lab
			if err := b.reset(ctx); err != nil {
				return err
			}
			if healthyP99, err = b.measureP99(ctx, 3*time.Second); err != nil {
				return err
			}
			b.maxP99 = (time.Duration(3*healthyP99*1000) * time.Microsecond).Round(time.Millisecond)
			fmt.Printf("lab up in %v; healthy caller-side p99 (histogram estimate) %.2f ms → max-latency-p99 %v\n", time.Since(begin).Round(time.Millisecond), healthyP99, b.maxP99)
			return nil
		},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sl.Stop()) }()
	b.vs = sl.VS
	res := results{CallRate: rate, Runs: o.runs, ControlRuns: o.controlRuns, ControlObsMs: ms(o.controlObs), HealthyP99Ms: healthyP99,
		MaxLatencyP99: b.maxP99.String(), Seed: o.seed, Started: time.Now().UTC().Format(time.RFC3339), Machine: machine()}
	failures := 0
	// Interleave scenarios so that load drifts on the shared machine spread over all.
	for i := range o.runs {
		for _, sc := range scenarios() {
			for _, w := range []int32{5, 25} {
				rec, err := b.faultRun(ctx, sc, w, i)
				if err != nil {
					if failures++; failures > 5 {
						return fmt.Errorf("%s at %d%%, run %d: %w", sc.Name, w, i, err)
					}
					rec.Error = err.Error()
				}
				progress(rec)
				res.Records = append(res.Records, rec)
			}
		}
	}
	for i := range o.controlRuns {
		for _, sc := range controls() {
			rec, err := b.controlRun(ctx, sc, o.controlObs, i)
			if err != nil {
				if failures++; failures > 5 {
					return fmt.Errorf("%s, run %d: %w", sc.Name, i, err)
				}
				rec.Error = err.Error()
			}
			progress(rec)
			res.Records = append(res.Records, rec)
		}
	}
	res.WallSeconds = time.Since(begin).Seconds()
	if err := b.reset(ctx); err != nil {
		return err
	}
	return write(o.out, res, o)
}

// measureP99 reads the caller's p99 to stable over d (Prometheus-style histogram estimate).
func (b *bench) measureP99(ctx context.Context, d time.Duration) (float64, error) {
	url := b.caller().StatsURL()
	before, err := scrapeSubsets(ctx, url, b.lab.Host())
	if err != nil {
		return 0, err
	}
	if err := waitUntil(ctx, time.Now().Add(d)); err != nil {
		return 0, err
	}
	after, err := scrapeSubsets(ctx, url, b.lab.Host())
	if err != nil {
		return 0, err
	}
	return sub(after[stable], before[stable]).Latency.Quantile(0.99), nil
}

func progress(r runRecord) {
	line := fmt.Sprintf("%-18s %2d%% run %2d (%5.1fs): sluice rolledBack=%v", r.Scenario, r.Weight, r.Run, r.dur.Seconds(), r.RolledBack)
	if r.AppliedMs != nil {
		line += fmt.Sprintf(" fault→VS %.0fms →applied %.0fms →last %.0fms", *r.WrittenMs, *r.AppliedMs, *r.LastCanaryMs)
	}
	for _, n := range []string{"flagger", "argo"} {
		if d := r.Baselines[n].DecidedMs; d != nil {
			line += fmt.Sprintf(" %s %.1fs", n, *d/1000)
		} else {
			line += fmt.Sprintf(" %s -", n)
		}
	}
	if r.Error != "" {
		line += " ERROR " + r.Error
	}
	fmt.Println(line)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
