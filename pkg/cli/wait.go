package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sluicedev/sluice/pkg/spec"
)

const waitUsage = `usage: kubectl sluice wait <service> [--canary SUBSET] [--timeout 10m] [--fail-on-pause] [-n NAMESPACE]

Blocks until the rollout of the canary ends, watching the Service's TrafficShift (no
polling), and prints one line per phase, step or weight change. The canary is --canary,
or the subset the Service's sluice.dev/canary annotation names. The status of an earlier
rollout (another canary's Promoted, say) never ends the wait: it ends when status.canary
is the awaited subset and the rollout finished, or when the awaited subset is the stable.

Exit codes:
  0  Promoted: the canary serves alone and is the new stable
  1  RolledBack: the guard tripped, an operator aborted, or another canary superseded it
  2  timeout: --timeout passed first
  3  Invalid: the Service's annotations, policy or routes are unusable
  4  Paused (only with --fail-on-pause)
  5  any other error: bad arguments, API unreachable, Service not found or not opted in,
     TrafficShift deleted

An Invalid status that was already there when the wait began is taken as current after
--invalid-grace without change (it may predate the release being awaited).
`

func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var k kubeFlags
	fs := newFlagSet("wait", &k, stderr)
	canary := fs.String("canary", "", "the subset to wait for (default: the Service's sluice.dev/canary annotation)")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait; 0 waits forever")
	failOnPause := fs.Bool("fail-on-pause", false, "exit 4 as soon as the rollout is paused")
	grace := fs.Duration("invalid-grace", 5*time.Second, "how long an Invalid status seen at the start must stay before it counts")
	name, err := parseOne(fs, waitUsage, args, stdout)
	if errors.Is(err, errHelp) {
		return ExitPromoted
	}
	if err == nil && (*timeout < 0 || *grace < 0) {
		err = errors.New("--timeout and --invalid-grace must not be negative")
	}
	if err != nil {
		fmt.Fprintf(stderr, "wait: %v\n", err)
		return ExitError
	}
	s, err := connect(k)
	if err != nil {
		fmt.Fprintf(stderr, "wait: %v\n", err)
		return ExitError
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	svc, err := s.service(ctx, name)
	if err != nil {
		fmt.Fprintf(stderr, "wait: %v\n", err)
		return ExitError
	}
	want := *canary
	if want == "" {
		if want = svc.Annotations[spec.AnnCanary]; want == "" {
			fmt.Fprintf(stderr, "wait: service %s/%s has no %s annotation; name the subset with --canary\n", s.ns, name, spec.AnnCanary)
			return ExitError
		}
	}
	fmt.Fprintf(stdout, "waiting for the rollout of %q on %s/%s (timeout %s)\n", want, s.ns, name, timeoutText(*timeout))
	w := &waiter{
		s: s, name: name, want: awaited{canary: want, failOnPause: *failOnPause},
		grace: *grace, total: s.stepCount(ctx, svc), out: stdout, now: time.Now,
	}
	v := w.run(ctx)
	if v.code == ExitPromoted {
		fmt.Fprintln(stdout, v.why)
	} else {
		fmt.Fprintf(stderr, "wait: %s\n", v.why)
	}
	return v.code
}

func timeoutText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}
