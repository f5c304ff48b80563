package cli

import (
	"context"
	"fmt"
	"io"
)

// Exit codes of every command except wait (whose codes are ExitPromoted … ExitError).
const (
	ExitOK     = 0 // the command did what it was asked
	ExitFailed = 1 // the command could not do it (API error, no rollout under way, …)
	ExitUsage  = 2 // bad arguments
)

// Usage is the plugin's top-level help.
const Usage = `kubectl sluice: watch and steer sluice's progressive traffic shifts.

Commands:
  status  <service>    phase, stable → canary, step, weight, last decision, stats window, history
  wait    <service>    block until the canary's rollout ends; the exit code says how (see wait --help)
  promote <service>    finish the current rollout now (canary to 100 %)
  abort   <service>    roll the current canary back (weight 0)
  pause   <service>    hold the current weight (the guard keeps running)
  resume  <service>    undo pause, and retry a rollout paused by the guard
  retry   <service>    restart a rolled-back or paused rollout of the current canary
  stats   <file|url>   parse an Envoy/Istio stats page or config dump (no cluster needed)

Common flags: -n/--namespace, --kubeconfig, --context. Run "kubectl sluice <command> --help".
`

// command is one cluster-facing subcommand.
type command struct {
	usage string
	run   func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"status":  {statusUsage, runStatus},
	"wait":    {waitUsage, runWait},
	"promote": {promoteUsage, runAnnotate(cmdPromote)},
	"abort":   {abortUsage, runAnnotate(cmdAbort)},
	"pause":   {pauseUsage, runAnnotate(cmdPause)},
	"resume":  {resumeUsage, runAnnotate(cmdResume)},
	"retry":   {retryUsage, runAnnotate(cmdRetry)},
}

// Run executes args (without the program name) and returns the process exit code. It
// serves every command but stats, which the plugin's main dispatches itself.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, Usage)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		fmt.Fprint(stdout, Usage)
		return ExitOK
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "kubectl sluice: unknown command %q\n\n%s", name, Usage)
		return ExitUsage
	}
	return c.run(ctx, args[1:], stdout, stderr)
}
