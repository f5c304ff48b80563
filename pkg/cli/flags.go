package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// kubeFlags are the kubectl plugin conventions every cluster-facing command accepts.
type kubeFlags struct {
	Namespace  string
	Kubeconfig string
	Context    string
}

func (k *kubeFlags) bind(fs *pflag.FlagSet) {
	fs.StringVarP(&k.Namespace, "namespace", "n", "", "namespace of the Service (default: the kubeconfig context's namespace)")
	fs.StringVar(&k.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&k.Context, "context", "", "kubeconfig context to use")
}

// errHelp means the user asked for help and got it.
var errHelp = errors.New("help requested")

// newFlagSet returns a flag set that reports errors to stderr, with the kube flags bound to k.
func newFlagSet(name string, k *kubeFlags, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	fs.SortFlags = false
	k.bind(fs)
	return fs
}

// parseOne parses args and returns the single positional argument (the Service name).
// On -h/--help it prints usage and the flags to stdout and returns errHelp.
func parseOne(fs *pflag.FlagSet, usage string, args []string, stdout io.Writer) (string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fmt.Fprintf(stdout, "\nFlags:\n%s", fs.FlagUsages())
			return "", errHelp
		}
		return "", err
	}
	switch fs.NArg() {
	case 1:
		return fs.Arg(0), nil
	case 0:
		return "", errors.New("missing the Service name")
	default:
		return "", fmt.Errorf("expected one Service name, got %d arguments: %q", fs.NArg(), fs.Args())
	}
}
