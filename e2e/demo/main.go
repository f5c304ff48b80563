// Command demo shows sluice on a real kube-apiserver: a healthy canary promoted step by
// step, then a bad release rolled back, with the time from fault to weight 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	var o options
	flag.DurationVar(&o.stepDuration, "step-duration", 4*time.Second, "dwell of each step (shorten for a faster demo)")
	flag.Float64Var(&o.rate, "rate", 200, "total request rate of the stand-in traffic, req/s")
	flag.Float64Var(&o.badErrorRate, "bad-error-rate", 0.4, "error rate of the bad release v3")
	flag.StringVar(&o.logFile, "log", "", "controller log file (default: a temporary file)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
