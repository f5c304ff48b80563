package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// maxAPIFailures is how many consecutive failed list/watch calls a wait tolerates before
// it gives up with ExitError (about one per second).
const maxAPIFailures = 5

// waiter follows one TrafficShift through a watch until awaited.judge says done.
type waiter struct {
	s     *session
	name  string
	want  awaited
	grace time.Duration
	total int // steps, 0 when unknown
	out   io.Writer
	now   func() time.Time

	startRV  string                       // resourceVersion of the TrafficShift when the wait began ("" = absent)
	last     *sluicev1alpha1.TrafficShift // latest state seen (nil = absent)
	lastKey  string                       // progressKey of the last printed line
	notFound bool                         // the absence of the TrafficShift was reported
}

// errExpired asks run to re-list: the watch's resourceVersion is too old.
var errExpired = errors.New("watch resourceVersion expired")

// run lists the TrafficShift once, then watches it from that resourceVersion, re-watching
// when the server closes the stream and re-listing when the version has expired.
func (w *waiter) run(ctx context.Context) verdict {
	rv, failures := "", 0
	var graceC <-chan time.Time
	for first := true; ; first = false {
		if rv == "" {
			ts, listRV, err := w.list(ctx)
			if err != nil {
				if v, stop := w.failed(ctx, err, first, &failures); stop {
					return v
				}
				continue
			}
			if first && ts != nil {
				w.startRV = ts.ResourceVersion
				if ts.Status.Phase == sluicev1alpha1.PhaseInvalid {
					graceC = time.After(w.grace)
				}
			}
			w.last, rv = ts, listRV
			if v := w.observe(ts); v.done {
				return v
			}
		}
		wi, err := w.s.c.Watch(ctx, &sluicev1alpha1.TrafficShiftList{}, w.listOptions(rv))
		if err == nil {
			var v verdict
			v, rv, err = w.follow(ctx, wi, rv, &graceC)
			wi.Stop()
			if v.done {
				return v
			}
		}
		switch {
		case err == nil:
			failures = 0
		case errors.Is(err, errExpired) || apierrors.IsGone(err) || apierrors.IsResourceExpired(err):
			rv = ""
		default:
			if v, stop := w.failed(ctx, err, false, &failures); stop {
				return v
			}
		}
	}
}

// follow consumes one watch stream until it closes (nil error), fails, or the wait ends.
// It returns the resourceVersion to resume from.
func (w *waiter) follow(ctx context.Context, wi watch.Interface, rv string, graceC *<-chan time.Time) (verdict, string, error) {
	for {
		select {
		case <-ctx.Done():
			return w.ended(ctx), rv, nil
		case <-*graceC:
			// An Invalid status present at the start stayed unchanged: take it as current.
			*graceC = nil
			if w.last != nil && w.last.ResourceVersion == w.startRV {
				if v := w.want.judge(&w.last.Status, true); v.done {
					return v, rv, nil
				}
			}
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return verdict{}, rv, nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				ts, isShift := ev.Object.(*sluicev1alpha1.TrafficShift)
				if !isShift {
					continue
				}
				rv, w.last = ts.ResourceVersion, ts
				if v := w.observe(ts); v.done {
					return v, rv, nil
				}
			case watch.Deleted:
				return verdict{true, ExitError, fmt.Sprintf("TrafficShift %s/%s was deleted: the Service was opted out of sluice or deleted", w.s.ns, w.name)}, rv, nil
			case watch.Bookmark:
				if ts, isShift := ev.Object.(*sluicev1alpha1.TrafficShift); isShift {
					rv = ts.ResourceVersion
				}
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
					return verdict{}, "", errExpired
				}
				return verdict{}, rv, fmt.Errorf("watching TrafficShift %s/%s: %w", w.s.ns, w.name, err)
			}
		}
	}
}

// observe prints a progress line when something changed and judges ts (nil = absent).
func (w *waiter) observe(ts *sluicev1alpha1.TrafficShift) verdict {
	if ts == nil {
		if !w.notFound {
			w.notFound = true
			fmt.Fprintf(w.out, "%s %s: no TrafficShift yet; waiting for sluice to pick the Service up\n", w.now().Format("15:04:05"), w.name)
		}
		return verdict{}
	}
	if key := progressKey(&ts.Status); key != w.lastKey {
		w.lastKey = key
		fmt.Fprintln(w.out, progressLine(w.now(), w.name, &ts.Status, w.total))
	}
	return w.want.judge(&ts.Status, ts.ResourceVersion != w.startRV)
}

// list reads the TrafficShift (nil when absent) and the list's resourceVersion.
func (w *waiter) list(ctx context.Context) (*sluicev1alpha1.TrafficShift, string, error) {
	l := &sluicev1alpha1.TrafficShiftList{}
	if err := w.s.c.List(ctx, l, w.listOptions("")); err != nil {
		return nil, "", fmt.Errorf("listing TrafficShift %s/%s: %w", w.s.ns, w.name, err)
	}
	if len(l.Items) == 0 {
		return nil, l.ResourceVersion, nil
	}
	return &l.Items[0], l.ResourceVersion, nil
}

func (w *waiter) listOptions(rv string) *client.ListOptions {
	return &client.ListOptions{
		Namespace:     w.s.ns,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", w.name),
		Raw:           &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: rv != ""},
	}
}

// failed handles an API error: it stops the wait at once on the first call or when ctx
// ended, after maxAPIFailures in a row otherwise, and else backs off for a second.
func (w *waiter) failed(ctx context.Context, err error, first bool, failures *int) (verdict, bool) {
	if ctx.Err() != nil {
		return w.ended(ctx), true
	}
	*failures++
	if first || *failures >= maxAPIFailures {
		return verdict{true, ExitError, err.Error()}, true
	}
	select {
	case <-ctx.Done():
		return w.ended(ctx), true
	case <-time.After(time.Second):
		return verdict{}, false
	}
}

// ended is the verdict when ctx ends: a timeout, or an interruption.
func (w *waiter) ended(ctx context.Context) verdict {
	state := "no TrafficShift"
	if w.last != nil {
		state = progressLine(w.now(), w.name, &w.last.Status, w.total)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return verdict{true, ExitTimeout, fmt.Sprintf("timed out waiting for the rollout of %q; last state: %s", w.want.canary, state)}
	}
	return verdict{true, ExitError, fmt.Sprintf("interrupted while waiting for the rollout of %q: %v", w.want.canary, ctx.Err())}
}
