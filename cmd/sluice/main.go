// Command sluice is the controller: flags → manager.Run (wiring, then the manager until a signal).
package main

import (
	"flag"
	"fmt"
	"os"

	// CA roots compiled in, used when the host has none (the image has no /etc/ssl).
	_ "golang.org/x/crypto/x509roots/fallback"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/sluicedev/sluice/pkg/controller/manager"
	"github.com/sluicedev/sluice/pkg/version"
)

func main() {
	var o manager.Options
	fs := flag.NewFlagSet("sluice", flag.ExitOnError)
	o.BindFlags(fs)
	printVersion := fs.Bool("version", false, "print the version and exit")
	_ = fs.Parse(os.Args[1:])
	if *printVersion {
		fmt.Println(version.Get().String())
		return
	}
	if err := manager.Run(ctrl.SetupSignalHandler(), ctrl.GetConfigOrDie(), o); err != nil {
		fmt.Fprintln(os.Stderr, "sluice:", err)
		os.Exit(1)
	}
}
