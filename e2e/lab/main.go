// Command lab runs the mesh lab (real kube-apiserver and etcd, real istiod, backends for
// reviews v1/v2/v3, a gateway caller) with sluice running on it, and stays up until
// Ctrl-C, so that a person can drive it with the real kubectl and kubectl-sluice. Its
// "fault" subcommand changes how a subset answers: `sluice-lab fault v3 --errors 0.3`,
// `sluice-lab fault v3 --latency 5x`, `sluice-lab fault v3 --healthy`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "fault" {
		if err := fault(os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "sluice-lab fault:", err)
			os.Exit(2)
		}
		return
	}
	var o options
	flag.Float64Var(&o.rate, "rate", 200, "calls per second of the gateway caller")
	flag.StringVar(&o.dir, "dir", "", "directory for the kubeconfig, the binaries and the logs (default: a new temporary one)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}
