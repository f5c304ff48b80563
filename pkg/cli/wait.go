package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluicedev/sluice/pkg/spec"
)

const waitExitCodes = `Exit codes:
  0  Promoted: the canary serves alone and is the new stable
  1  RolledBack: the guard tripped, an operator aborted, or another canary superseded it
  2  timeout: --timeout passed first
  3  Invalid: the Service's annotations, policy or routes are unusable
  4  Paused (only with --fail-on-pause)
  5  any other error: bad arguments, API unreachable or refusing, Service not found or
     not opted in, TrafficShift deleted`

const waitLong = `Blocks until the rollout of the canary ends, watching the Service's TrafficShift (no
polling), and prints one line per phase, step or weight change. The canary is --canary,
or the subset the Service's sluice.dev/canary annotation names. The status of an earlier
rollout (another canary's Promoted, say) never ends the wait: it ends when status.canary
is the awaited subset and the rollout finished, or when the awaited subset is the stable.

` + waitExitCodes + `

An Invalid status that was already there when the wait began is taken as current after
--invalid-grace without change (it may predate the release being awaited).`

// waitOptions are the flags of wait, shared by release --wait.
type waitOptions struct {
	timeout     time.Duration
	failOnPause bool
	grace       time.Duration
}

func (o *waitOptions) bind(fs *pflag.FlagSet) {
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "how long to wait; 0 waits forever")
	fs.BoolVar(&o.failOnPause, "fail-on-pause", false, "exit 4 as soon as the rollout is paused")
	fs.DurationVar(&o.grace, "invalid-grace", 5*time.Second, "how long an Invalid status seen at the start must stay before it counts")
}

func (o *waitOptions) validate() error {
	if o.timeout < 0 || o.grace < 0 {
		return usageErrorf(ExitError, "--timeout and --invalid-grace must not be negative")
	}
	return nil
}

func (r *root) newWaitCommand() *cobra.Command {
	var o waitOptions
	var canary string
	cmd := &cobra.Command{
		Use:   "wait SERVICE",
		Short: "Block until the canary's rollout ends; the exit code says how",
		Long:  waitLong,
		Example: `  kubectl sluice wait reviews --timeout 15m
  kubectl sluice wait reviews --canary v2 --fail-on-pause`,
		Args:              oneService,
		ValidArgsFunction: r.completeServices,
		Annotations:       map[string]string{usageCodeAnnotation: strconv.Itoa(ExitError)},
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			s, err := r.connect()
			if err != nil {
				return withCode(ExitError, fmt.Errorf("wait: %w", err))
			}
			return r.wait(c.Context(), s, args[0], canary, o)
		},
	}
	cmd.Flags().StringVar(&canary, "canary", "", "the subset to wait for (default: the Service's sluice.dev/canary annotation)")
	o.bind(cmd.Flags())
	return cmd
}

// wait blocks until the rollout of canary (or of the Service's sluice.dev/canary) on
// Service name ends, and returns nil when it was promoted, else a CodeError with the
// documented code.
func (r *root) wait(ctx context.Context, s *session, name, canary string, o waitOptions) error {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	fail := func(code int, err error) error { return &CodeError{Code: code, Err: fmt.Errorf("wait: %w", err)} }
	svc, err := s.service(ctx, name)
	if err != nil {
		return fail(ExitError, err)
	}
	if canary == "" {
		if canary = svc.Annotations[spec.AnnCanary]; canary == "" {
			return fail(ExitError, fmt.Errorf("service %s/%s has no %s annotation; name the subset with --canary", s.ns, name, spec.AnnCanary))
		}
	}
	fmt.Fprintf(r.streams.Out, "waiting for the rollout of %q on %s/%s (timeout %s)\n", canary, s.ns, name, timeoutText(o.timeout))
	w := &waiter{
		s: s, name: name, want: awaited{canary: canary, failOnPause: o.failOnPause},
		grace: o.grace, total: s.stepCount(ctx, svc), out: r.streams.Out, warn: r.streams.ErrOut, now: time.Now,
	}
	v := w.run(ctx)
	if v.code == ExitPromoted {
		fmt.Fprintln(r.streams.Out, v.why)
		return nil
	}
	return fail(v.code, errors.New(v.why))
}

func timeoutText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}
