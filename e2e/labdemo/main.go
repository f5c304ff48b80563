// Command labdemo shows sluice on the mesh lab: real kube-apiserver, real istiod and real
// gRPC calls from a proxyless caller; a healthy v2 is promoted, a faulty v3 is rolled
// back, and the rollback is timed from the fault to the last canary call.
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
	flag.DurationVar(&o.stepDuration, "step-duration", 3*time.Second, "dwell of each step")
	flag.Float64Var(&o.rate, "rate", 200, "calls per second of the gateway caller")
	flag.Float64Var(&o.badErrorRate, "bad-error-rate", 1, "fraction of v3 calls failing with INTERNAL once the fault starts")
	flag.IntVar(&o.faultAt, "fault-at", 25, "v3 weight (5, 25 or 50) at which the fault starts")
	flag.DurationVar(&o.debounce, "debounce", 0, "istiod's PILOT_DEBOUNCE_AFTER (0: istiod's default, 100ms)")
	flag.StringVar(&o.logFile, "log", "", "controller log file (default: a temporary file)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "labdemo:", err)
		os.Exit(1)
	}
}
