// Command kubectl-sluice is the kubectl plugin for sluice: it sends `stats` to runStats
// and every other command to package cli.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluicedev/sluice/pkg/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args (without the program name) and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "stats" {
		return runStats(ctx, args[1:], stdout, stderr)
	}
	return cli.Run(ctx, args, stdout, stderr)
}
