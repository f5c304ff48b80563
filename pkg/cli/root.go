package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/sluicedev/sluice/pkg/version"
)

// usageCodeAnnotation on a command sets the exit code of its usage errors (wait and
// release keep their documented code 5 for bad arguments).
const usageCodeAnnotation = "sluice.dev/usage-exit-code"

// root is what every command shares: the IO streams and kubectl's connection flags.
type root struct {
	streams genericiooptions.IOStreams
	config  *genericclioptions.ConfigFlags
}

// NewCommand returns the kubectl-sluice command tree writing to streams. Errors it
// returns carry their exit code (ExitCode, Report); help goes to stdout with code 0.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	r := &root{streams: streams, config: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "kubectl-sluice",
		Short: "Watch and steer sluice's progressive traffic shifts",
		Long: `kubectl sluice: watch and steer sluice's progressive traffic shifts.

sluice moves a Service's traffic from its stable subset to a canary in steps, reading
Envoy's stats, and rolls back when the canary fails. These commands read the rollout
state sluice keeps in each Service's TrafficShift and write the Service annotations that
steer it. Every kubectl connection flag works (--context, --as, --token, -n, …).`,
		Version:       version.Get().String(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          rootArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl sluice"},
	}
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetIn(streams.In)
	cmd.SetVersionTemplate("kubectl-sluice {{.Version}}\n")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErrorf(usageCode(c), "%w\nSee '%s --help'.", err, c.CommandPath())
	})
	cmd.SuggestionsMinimumDistance = 2
	// --version without cobra's -v shorthand: kubectl uses -v for log verbosity.
	cmd.Flags().Bool("version", false, "print the plugin's version")
	r.config.AddFlags(cmd.PersistentFlags())
	cmd.AddGroup(
		&cobra.Group{ID: "rollout", Title: "Rollouts:"},
		&cobra.Group{ID: "offline", Title: "Offline (no cluster needed):"},
	)
	for _, c := range []*cobra.Command{
		r.newStatusCommand(), r.newWaitCommand(), r.newReleaseCommand(), r.newHistoryCommand(),
		r.newAnnotateCommand(cmdPromote), r.newAnnotateCommand(cmdAbort), r.newAnnotateCommand(cmdPause),
		r.newAnnotateCommand(cmdResume), r.newAnnotateCommand(cmdRetry),
	} {
		c.GroupID = "rollout"
		cmd.AddCommand(c)
	}
	for _, c := range []*cobra.Command{r.newPlanCommand(), r.newStatsCommand()} {
		c.GroupID = "offline"
		cmd.AddCommand(c)
	}
	cmd.AddCommand(r.newVersionCommand())
	r.registerCompletions(cmd)
	return cmd
}

// rootArgs rejects an unknown command with the usage exit code and cobra's suggestions.
func rootArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], "kubectl sluice")
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
	}
	return usageErrorf(ExitUsage, "%s\nRun 'kubectl sluice --help' for usage.", msg)
}

// usageCode is the exit code of a usage error in cmd.
func usageCode(cmd *cobra.Command) int {
	if v, ok := cmd.Annotations[usageCodeAnnotation]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return ExitUsage
}

// oneService is the Args check of commands taking one Service name.
func oneService(cmd *cobra.Command, args []string) error {
	switch len(args) {
	case 1:
		return nil
	case 0:
		return usageErrorf(usageCode(cmd), "missing the Service name\nSee '%s --help'.", cmd.CommandPath())
	default:
		return usageErrorf(usageCode(cmd), "expected one Service name, got %d arguments: %q\nSee '%s --help'.", len(args), args, cmd.CommandPath())
	}
}
