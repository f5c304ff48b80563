package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/sluicedev/sluice/e2e/meshlab"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// demo prints the rollouts on the lab.
type demo struct {
	lab   *meshlab.Lab
	out   io.Writer
	vs    *vswatch.Log
	prev  map[string]meshlab.ClusterCounts // the caller's counts at the last line
	start time.Time
}

const header = "     t  phase        step  VirtualService   client route       calls per 0.5 s (errors)"

// line prints the rollout's state and the calls of the last interval, and returns the
// TrafficShift it read.
func (d *demo) line(ctx context.Context) *sluicev1alpha1.TrafficShift {
	c := d.lab.Callers[0]
	now := c.Counts()
	delta := d.lab.Delta(d.prev, now)
	d.prev = now
	ts, _ := d.lab.TrafficShift(ctx)
	phase, step := "-", "-"
	if ts != nil {
		phase = string(ts.Status.Phase)
		if ts.Status.Step > 0 {
			step = fmt.Sprint(ts.Status.Step)
		}
	}
	route := "?"
	if w, err := d.lab.RouteWeights(ctx); err == nil {
		route = fmtWeights(w)
	}
	client := "?"
	if w, _, err := c.AppliedWeights(d.lab.Host()); err == nil {
		client = fmtWeights(w)
	}
	var calls []string
	for _, v := range []string{"v1", "v2", "v3"} {
		n := delta[v]
		if n.Requests == 0 {
			calls = append(calls, fmt.Sprintf("%s    -        ", v))
			continue
		}
		calls = append(calls, fmt.Sprintf("%s %4d (%5.1f%%)", v, n.Requests, 100*float64(n.Errors)/float64(n.Requests)))
	}
	fmt.Fprintf(d.out, "%6.1f  %-11s  %-4s  %-15s  %-17s  %s\n", time.Since(d.start).Seconds(), phase, step, route, client, strings.Join(calls, "  "))
	return ts
}

// every calls f every 0.5 s after printing a line, until f says done.
func (d *demo) every(ctx context.Context, f func(*sluicev1alpha1.TrafficShift) (bool, error)) error {
	d.start = time.Now()
	d.prev = d.lab.Callers[0].Counts()
	fmt.Fprintln(d.out, header)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ts := d.line(ctx)
		if ts == nil {
			continue
		}
		if ts.Status.Phase == sluicev1alpha1.PhaseInvalid {
			return fmt.Errorf("sluice marked the Service Invalid: %+v", ts.Status.Conditions)
		}
		if done, err := f(ts); done || err != nil {
			return err
		}
		if time.Since(d.start) > 5*time.Minute {
			return fmt.Errorf("the rollout did not finish in 5 minutes")
		}
	}
}

// promote follows a healthy rollout of canary until it is promoted.
func (d *demo) promote(ctx context.Context, canary string) error {
	return d.every(ctx, func(ts *sluicev1alpha1.TrafficShift) (bool, error) {
		st := ts.Status
		if st.Phase != sluicev1alpha1.PhasePromoted || st.Stable != canary {
			return false, nil
		}
		fmt.Fprintf(d.out, "  ✔ %s promoted in %s; the route holds %s alone and every call goes to it\n", canary, time.Since(d.start).Round(100*time.Millisecond), canary)
		if st.LastDecision != nil {
			fmt.Fprintf(d.out, "    sluice: %s\n", st.LastDecision.Message)
		}
		return true, nil
	})
}

// rollback follows canary's rollout, starts its fault once the caller applied weight
// faultAt, and prints the rollback's timeline.
func (d *demo) rollback(ctx context.Context, stable, canary string, faultAt int32, beh meshlab.Behaviour) error {
	type result struct {
		r   meshlab.RollbackTimes
		err error
	}
	var res chan result
	err := d.every(ctx, func(ts *sluicev1alpha1.TrafficShift) (bool, error) {
		st := ts.Status
		if res == nil && st.Canary == canary && st.Weight == faultAt {
			w, _, err := d.lab.Callers[0].AppliedWeights(d.lab.Host())
			if err != nil || w[canary] != uint32(faultAt) {
				return false, err
			}
			res = make(chan result, 1)
			go func() {
				r, err := d.lab.FaultUntilRollback(ctx, d.vs, stable, canary, beh, 3*time.Second)
				res <- result{r, err}
			}()
			fmt.Fprintf(d.out, "  ⚡ fault: every %s pod now fails %.0f%% of calls with INTERNAL\n", canary, beh.ErrorRate*100)
			return false, nil
		}
		if res == nil || st.Phase != sluicev1alpha1.PhaseRolledBack {
			return false, nil
		}
		select {
		case got := <-res:
			if got.err != nil {
				return true, got.err
			}
			fmt.Fprintf(d.out, "  ✘ %s rolled back", canary)
			if st.LastDecision != nil {
				fmt.Fprintf(d.out, ": %s — %s", st.LastDecision.Reason, st.LastDecision.Message)
			}
			fmt.Fprintln(d.out)
			d.timeline(canary, got.r)
			return true, nil
		default:
			return false, nil // the last canary call is read 3 s after the rollback
		}
	})
	d.lab.SetSubsetBehaviour(canary, meshlab.Behaviour{})
	return err
}

func (d *demo) timeline(canary string, r meshlab.RollbackTimes) {
	decide, push, apply, drain := r.Segments()
	rows := []struct {
		what  string
		at    time.Time
		seg   time.Duration
		where string
	}{
		{"fault: " + canary + " pods answer INTERNAL", r.Fault, 0, "lab backends"},
		{"sluice decides, VirtualService written", r.Written, decide, "API server watch event"},
		{"istiod's push reaches the client", r.Route.Pushed, push, "xDS response at the caller"},
		{"client applies the route without " + canary, r.Route.Applied, apply, "xDS ACK = config_dump"},
		{"last " + canary + " call completes", r.LastCanary, drain, "caller's own count"},
	}
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	fmt.Fprintf(d.out, "\n  measured timeline of the rollback (ms after the fault; segment from the row above):\n")
	for _, row := range rows {
		fmt.Fprintf(d.out, "    %-42s %8.1f  %+8.1f   %s\n", row.what, ms(row.at.Sub(r.Fault)), ms(row.seg), row.where)
	}
	fmt.Fprintf(d.out, "  canary traffic gone %.1f ms after the fault, %.1f ms after the VirtualService write\n",
		ms(r.LastCanary.Sub(r.Fault)), ms(r.LastCanary.Sub(r.Written)))
	fmt.Fprintf(d.out, "  (grpc-go switches routes on receipt, before its ACK; and at the canary's weight its calls are\n   spaced by tens of ms, so its last call may precede the push)\n")
}

func fmtWeights[V int32 | uint32](w map[string]V) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(w)) {
		if w[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, w[k]))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
