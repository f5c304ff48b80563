package meshlab

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/sluicedev/sluice/e2e/vswatch"
)

// Calls is what a caller sent one subset between two Counts snapshots.
type Calls struct {
	Requests, Errors uint64
}

// Delta returns per subset the call attempts made between two snapshots of
// Caller.Counts; clusters that are not a subset of the lab's host keep their name.
func (l *Lab) Delta(before, after map[string]ClusterCounts) map[string]Calls {
	out := map[string]Calls{}
	for name, a := range after {
		b := before[name]
		key := name
		if parts := strings.Split(name, "|"); len(parts) == 4 && parts[0] == "outbound" && parts[3] == l.Host() {
			key = parts[2]
		}
		c := out[key]
		c.Requests += a.Requests - b.Requests
		c.Errors += a.Errors - b.Errors
		out[key] = c
	}
	return out
}

// RouteArrival is when a route split reached a caller.
type RouteArrival struct {
	// Pushed is when istiod's response carrying it passed the caller's xDS recorder.
	Pushed time.Time
	// Applied is when the client's ACK of it passed the recorder.
	Applied time.Time
}

// WaitForRoute is WaitForWeights that also reports when istiod's response arrived.
func (c *Caller) WaitForRoute(ctx context.Context, host string, want map[string]uint32) (RouteArrival, error) {
	want = maps.Clone(want)
	maps.DeleteFunc(want, func(_ string, w uint32) bool { return w == 0 })
	var a RouteArrival
	for {
		applied, changed := c.rec.snapshot()
		received, _ := c.rec.receivedSnapshot()
		if a.Pushed.IsZero() {
			got, at, err := appliedWeights(received, host)
			if err != nil {
				return a, err
			}
			if maps.Equal(got, want) {
				a.Pushed = at
			}
		}
		got, at, err := appliedWeights(applied, host)
		if err != nil {
			return a, err
		}
		if maps.Equal(got, want) {
			a.Applied = at
			if a.Pushed.IsZero() || a.Pushed.After(at) {
				a.Pushed = at // the response was re-sent after the ACK; the ACK bounds it
			}
			return a, nil
		}
		select {
		case <-ctx.Done():
			return a, fmt.Errorf("waiting for caller %s to apply weights %v to %s (has %v): %w", c.cfg.Name, want, host, got, ctx.Err())
		case <-changed:
		}
	}
}

// RollbackTimes are the moments of one rollback, from the fault to the last canary call.
type RollbackTimes struct {
	Fault time.Time // the canary's backends began to fail
	// Written is when the VirtualService watch saw the canary's weight go to 0: sluice's
	// rollback decision as the API server recorded it.
	Written time.Time
	Route   RouteArrival // the stable-only route reaching the caller
	// LastCanary is when the caller's latest call to the canary completed.
	LastCanary time.Time
}

// Segments are the rollback's consecutive durations: fault → VirtualService written →
// istiod's push at the caller → client applied → last canary call.
func (r RollbackTimes) Segments() (decide, push, apply, drain time.Duration) {
	return r.Written.Sub(r.Fault), r.Route.Pushed.Sub(r.Written), r.Route.Applied.Sub(r.Route.Pushed), r.LastCanary.Sub(r.Route.Applied)
}

// FaultUntilRollback makes every backend of canary behave as beh and follows the
// rollback through vs (a watch of the lab's VirtualService) and the first caller until
// settle after the VirtualService dropped the canary; then it reads the caller's last
// canary call. The canary's backends keep behaving as beh.
func (l *Lab) FaultUntilRollback(ctx context.Context, vs *vswatch.Log, stable, canary string, beh Behaviour, settle time.Duration) (RollbackTimes, error) {
	c := l.Callers[0]
	type arrival struct {
		a   RouteArrival
		err error
	}
	routed := make(chan arrival, 1)
	go func() {
		a, err := c.WaitForRoute(ctx, l.Host(), map[string]uint32{stable: 100})
		routed <- arrival{a, err}
	}()
	r := RollbackTimes{Fault: time.Now()}
	l.SetSubsetBehaviour(canary, beh)
	for {
		at, ok := vs.FirstAfter(r.Fault, canary, 0)
		if ok {
			r.Written = at
			break
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("waiting for the VirtualService to drop canary %s after the fault (weights %v): %w", canary, vs.CanarySeq(canary), ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	got := <-routed
	if got.err != nil {
		return r, got.err
	}
	r.Route = got.a
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(time.Until(r.Written.Add(settle))):
	}
	r.LastCanary = c.Counts()[l.ClusterName(canary)].Last
	return r, nil
}
