// Command hangingsink shows that a dead notification sink never delays a rollback: it
// measures fault → canary weight 0 (VirtualService watch event) with no sink, and with
// every sink of the policy hanging (a receiver that never answers), on the real API
// server with the in-process controller and stand-in pods, and writes results.json and
// README.md. Run it with `make bench-hangingsink`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/bench/internal/rig"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

func main() {
	runs := flag.Int("runs", 30, "rollbacks measured per configuration")
	out := flag.String("out", "bench/hangingsink", "directory for results.json and README.md")
	reportOnly := flag.Bool("report-only", false, "rebuild README.md from the directory's results.json")
	flag.Parse()
	log.SetLogger(logr.Discard())
	var err error
	if *reportOnly {
		err = rewrite(*out)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		err = run(ctx, *runs, *out)
		cancel()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/hangingsink:", err)
		os.Exit(1)
	}
}

// results are fault → weight 0 in milliseconds, without sinks and with hanging sinks.
type results struct {
	Runs        int       `json:"runs"`
	Started     time.Time `json:"started"`
	Took        string    `json:"took"`
	NoSink      []float64 `json:"noSinkMillis"`
	HangingSink []float64 `json:"hangingSinkMillis"`
}

const sinkNamespace = "sluice-bench"

func run(ctx context.Context, runs int, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	res := results{Runs: runs, Started: time.Now().UTC()}
	for _, cfg := range []struct {
		name    string
		hanging bool
		dst     *[]float64
	}{{"no sink", false, &res.NoSink}, {"hanging sinks", true, &res.HangingSink}} {
		ms, err := measure(ctx, runs, cfg.hanging)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.name, err)
		}
		*cfg.dst = ms
	}
	res.Took = time.Since(res.Started).Round(time.Second).String()
	return write(out, res)
}

// measure runs the rig runs times: a canary failing every call at its 5 % step, with the
// Service's policy naming hanging sinks or none.
func measure(ctx context.Context, runs int, hanging bool) ([]float64, error) {
	dir, err := os.MkdirTemp("", "sluice-bench-hangingsink-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var stop func()
	ann := map[string]string{"sluice.dev/min-requests": "20"}
	opts := manager.Options{Notify: controller.NotifyConfig{Namespace: sinkNamespace}}
	if hanging {
		url, closeSink := hangingReceiver()
		stop = closeSink
		ann["sluice.dev/policy"] = "hanging-sinks"
		defer func() { stop() }()
		r, err := rig.Start(ctx, dir, opts, ann)
		if err != nil {
			return nil, err
		}
		if err := hangingPolicy(ctx, r, url); err != nil {
			return nil, errors.Join(err, r.Stop())
		}
		return measureOn(ctx, r, runs)
	}
	r, err := rig.Start(ctx, dir, opts, ann)
	if err != nil {
		return nil, err
	}
	return measureOn(ctx, r, runs)
}

func measureOn(ctx context.Context, r *rig.Rig, runs int) ([]float64, error) {
	var ms []float64
	for i := range runs {
		r.Fleet.SetBehaviour(rig.Canary, standin.SubsetBehaviour{})
		m, err := r.Measure(ctx, func(context.Context) error {
			r.Fleet.SetBehaviour(rig.Canary, standin.SubsetBehaviour{ErrorRate: 1})
			return nil
		})
		if err != nil {
			return nil, errors.Join(fmt.Errorf("run %d: %w", i, err), r.Stop())
		}
		fmt.Printf("run %d: %.1f ms\n", i+1, m)
		ms = append(ms, m)
	}
	return ms, r.Stop()
}

// hangingPolicy creates the policy whose every sink type points at the hanging receiver.
func hangingPolicy(ctx context.Context, r *rig.Rig, url string) error {
	c := r.Cluster.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: sinkNamespace}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hang", Namespace: sinkNamespace},
		StringData: map[string]string{"url": url, "secret": "SEChang", "token": "hang"}}); err != nil {
		return err
	}
	var sinks []sluicev1alpha1.NotifySink
	for _, t := range []sluicev1alpha1.SinkType{sluicev1alpha1.SinkSlack, sluicev1alpha1.SinkWeCom, sluicev1alpha1.SinkFeishu,
		sluicev1alpha1.SinkDingTalk, sluicev1alpha1.SinkCloudEvents, sluicev1alpha1.SinkWebhook} {
		sinks = append(sinks, sluicev1alpha1.NotifySink{Name: string(t), Type: t, SecretRef: "hang"})
	}
	return c.Create(ctx, &sluicev1alpha1.ShiftPolicy{ObjectMeta: metav1.ObjectMeta{Name: "hanging-sinks"}, Spec: sluicev1alpha1.ShiftPolicySpec{Notify: sinks}})
}

func write(dir string, r results) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(report(r)), 0o644)
}

func rewrite(dir string) error {
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		return err
	}
	var r results
	if err := json.Unmarshal(data, &r); err != nil {
		return err
	}
	return write(dir, r)
}
