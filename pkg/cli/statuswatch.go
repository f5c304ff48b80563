package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/spec"
)

// clearScreen moves the cursor home and clears the terminal, for a redraw in place.
const clearScreen = "\x1b[H\x1b[2J"

// decisionsShown is how many decisions the live view of one Service keeps.
const decisionsShown = 5

// watchEnd turns the end of a watch into the command's result: Ctrl-C (or any end of
// the command's context) is a normal end, repeated API failures an error.
func watchEnd(ctx context.Context, err error) error {
	var unreachable *errAPIUnreachable
	if cause := context.Cause(ctx); errors.As(cause, &unreachable) {
		return fmt.Errorf("status --watch: %w", unreachable)
	}
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("status --watch: %w", err)
	}
	return nil
}

// watchOne follows Service name's TrafficShift: on a terminal a live view redrawn in
// place, otherwise one progress line per change (with -o, one object per change).
func (v *statusView) watchOne(ctx context.Context, name string, tty bool) error {
	svc, err := v.s.service(ctx, name)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	steps := v.s.steps(ctx, svc)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	failures := &apiFailures{cancel: cancel}
	var (
		mu        sync.Mutex
		lastKey   string
		decisions []sluicev1alpha1.Decision
	)
	show := func(ts *sluicev1alpha1.TrafficShift) {
		if d := ts.Status.LastDecision; d != nil && (len(decisions) == 0 || !sameDecision(decisions[0], *d)) {
			decisions = append([]sluicev1alpha1.Decision{*d}, decisions[:min(len(decisions), decisionsShown-1)]...)
		}
		switch {
		case v.printer != nil:
			if key := watchKey(&ts.Status); key != lastKey {
				lastKey = key
				_ = v.print(ts)
			}
		case tty:
			var b bytes.Buffer
			b.WriteString(clearScreen)
			_ = renderLive(&b, ts, steps, decisions, v.now())
			_, _ = v.out.Write(b.Bytes())
		default:
			if key := watchKey(&ts.Status); key != lastKey {
				lastKey = key
				fmt.Fprintln(v.out, progressLine(v.now(), name, &ts.Status, len(steps)))
			}
		}
	}
	synced := func(items []*sluicev1alpha1.TrafficShift) {
		mu.Lock()
		defer mu.Unlock()
		if len(items) == 0 {
			fmt.Fprintf(v.out, "%s %s: no TrafficShift yet; waiting for sluice to pick the Service up\n", v.now().Format("15:04:05"), name)
		}
	}
	onEvent := func(ev watch.Event) bool {
		mu.Lock()
		defer mu.Unlock()
		ts, ok := ev.Object.(*sluicev1alpha1.TrafficShift)
		if !ok {
			return false
		}
		if ev.Type == watch.Deleted {
			lastKey = ""
			fmt.Fprintf(v.out, "%s %s: TrafficShift deleted (Service opted out or deleted)\n", v.now().Format("15:04:05"), name)
			return false
		}
		show(ts)
		return false
	}
	err = followShifts(ctx, v.s.shiftListWatch(v.s.ns, name, failures), synced, onEvent)
	return watchEnd(ctx, err)
}

// watchList follows every TrafficShift of the listed Services: on a terminal the table
// redrawn in place, otherwise one line per change of any of them.
func (v *statusView) watchList(ctx context.Context, tty bool) error {
	initial, err := v.rows(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	failures := &apiFailures{cancel: cancel}
	var mu sync.Mutex
	rows := map[client.ObjectKey]*row{}
	keys := map[client.ObjectKey]string{}
	for i := range initial {
		r := initial[i]
		rows[client.ObjectKeyFromObject(r.svc)] = &r
	}
	// selected returns the row of the Service behind ts, reading a Service that appeared
	// after the start; nil when that Service is not listed (not opted in, -l mismatch).
	selected := func(ts *sluicev1alpha1.TrafficShift) *row {
		key := client.ObjectKeyFromObject(ts)
		if r, ok := rows[key]; ok {
			return r
		}
		svc := &corev1.Service{}
		if err := v.s.c.Get(ctx, key, svc); err != nil {
			if !apierrors.IsNotFound(err) {
				failures.track(err)
			}
			return nil
		}
		if !spec.Enabled(svc.Annotations) || !v.selector.Matches(labels.Set(svc.Labels)) {
			return nil
		}
		r := &row{svc: svc, steps: v.s.steps(ctx, svc)}
		rows[key] = r
		return r
	}
	redraw := func() {
		var list []row
		for _, r := range rows {
			list = append(list, *r)
		}
		sortRows(list)
		var b bytes.Buffer
		b.WriteString(clearScreen)
		if len(list) == 0 {
			fmt.Fprintf(&b, "No opted-in Services found%s.\n", inNamespace(v.ns))
		} else {
			_ = renderTable(&b, list, v.wide, v.now())
		}
		_, _ = v.out.Write(b.Bytes())
	}
	synced := func([]*sluicev1alpha1.TrafficShift) {
		mu.Lock()
		defer mu.Unlock()
		if tty && v.printer == nil {
			redraw()
		}
	}
	onEvent := func(ev watch.Event) bool {
		mu.Lock()
		defer mu.Unlock()
		ts, ok := ev.Object.(*sluicev1alpha1.TrafficShift)
		if !ok {
			return false
		}
		r := selected(ts)
		if r == nil {
			return false
		}
		key := client.ObjectKeyFromObject(ts)
		id := ts.Namespace + "/" + ts.Name
		if ev.Type == watch.Deleted {
			r.ts = nil
			delete(keys, key)
			if !tty && v.printer == nil {
				fmt.Fprintf(v.out, "%s %s: TrafficShift deleted\n", v.now().Format("15:04:05"), id)
			}
		} else {
			r.ts = ts
			changed := keys[key] != watchKey(&ts.Status)
			keys[key] = watchKey(&ts.Status)
			switch {
			case v.printer != nil:
				if changed {
					_ = v.print(ts)
				}
			case !tty && changed:
				fmt.Fprintln(v.out, progressLine(v.now(), id, &ts.Status, len(r.steps)))
			}
		}
		if tty && v.printer == nil {
			redraw()
		}
		return false
	}
	err = followShifts(ctx, v.s.shiftListWatch(v.ns, "", failures), synced, onEvent)
	return watchEnd(ctx, err)
}

// watchKey identifies what a non-terminal watch reports: the progress line's fields and
// the last decision.
func watchKey(st *sluicev1alpha1.TrafficShiftStatus) string {
	k := progressKey(st)
	if d := st.LastDecision; d != nil {
		k += "|" + d.Action + "|" + d.Reason + "|" + d.Message
	}
	return k
}

func sameDecision(a, b sluicev1alpha1.Decision) bool {
	return a.Action == b.Action && a.Reason == b.Reason && a.Message == b.Message && a.Time.Equal(b.Time)
}

// ladder renders the step schedule with the current step bracketed: 5% → [25%] → 50% → 100%.
func ladder(steps schedule.Schedule, current int32) string {
	parts := make([]string, len(steps))
	for i, st := range steps {
		parts[i] = fmt.Sprintf("%d%%", st.Weight)
		if int32(i+1) == current {
			parts[i] = "[" + parts[i] + "]"
		}
	}
	return strings.Join(parts, " → ")
}
