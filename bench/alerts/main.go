// Command alerts measures how long an Alertmanager alert takes to put a canary at weight
// 0 through sluice's receiver, against the real API server, the in-process controller,
// stand-in pods and (for the second figure) the real Alertmanager; it writes results.json
// and README.md. Run it with `make bench-alerts`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	o := options{}
	flag.IntVar(&o.runs, "runs", 30, "rollbacks measured per path")
	flag.StringVar(&o.out, "out", "bench/alerts", "directory for results.json and README.md")
	reportOnly := flag.Bool("report-only", false, "rebuild README.md from the directory's results.json")
	flag.Parse()
	if *reportOnly {
		if err := rewrite(o.out); err != nil {
			fmt.Fprintln(os.Stderr, "bench/alerts:", err)
			os.Exit(1)
		}
		return
	}
	log.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/alerts:", err)
		os.Exit(1)
	}
}
