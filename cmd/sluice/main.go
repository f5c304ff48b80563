// Command sluice is the controller: flags → manager.Run (wiring, then the manager until a signal).
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sluicedev/sluice/pkg/controller/manager"
)

func main() {
	var o manager.Options
	fs := flag.NewFlagSet("sluice", flag.ExitOnError)
	o.BindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if err := manager.Run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), o); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}
