// Command kubectl-sluice is the kubectl plugin for sluice; its commands live in pkg/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/pkg/cli"
)

func main() {
	ctrllog.SetLogger(logr.Discard()) // the client library's logs are not for a CLI's users
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.NewCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).ExecuteContext(ctx)
	stop()
	os.Exit(cli.Report(os.Stderr, err))
}
