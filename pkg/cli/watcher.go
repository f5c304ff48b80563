package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// maxAPIFailures is how many consecutive failed list/watch calls a watch tolerates before
// it gives up (client-go's reflector retries with a backoff between them).
const maxAPIFailures = 5

// apiFailures counts consecutive failed list/watch calls and ends the watch (through
// cancel) after maxAPIFailures of them; warn, when set, hears of each failure.
type apiFailures struct {
	mu     sync.Mutex
	n      int
	cancel context.CancelCauseFunc
	warn   io.Writer
}

// errAPIUnreachable is the cause of a watch ended by repeated API failures.
type errAPIUnreachable struct{ last error }

func (e *errAPIUnreachable) Error() string {
	return fmt.Sprintf("giving up after %d failed calls to the API server: %v", maxAPIFailures, e.last)
}
func (e *errAPIUnreachable) Unwrap() error { return e.last }

func (f *apiFailures) track(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			f.n = 0
		}
		return
	}
	f.n++
	if f.warn != nil {
		fmt.Fprintf(f.warn, "warning: %v (retrying)\n", err)
	}
	if f.n >= maxAPIFailures {
		f.cancel(&errAPIUnreachable{last: err})
	}
}

// shiftListWatch lists and watches the TrafficShifts of namespace ns ("" = all), only
// the one called name when name is set, through the session's client.
func (s *session) shiftListWatch(ns, name string, f *apiFailures) *cache.ListWatch {
	opts := func(o metav1.ListOptions) *client.ListOptions {
		lo := &client.ListOptions{Namespace: ns, Raw: &o}
		if name != "" {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name)
		}
		return lo
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := &sluicev1alpha1.TrafficShiftList{}
			err := s.c.List(ctx, l, opts(o))
			f.track(err)
			if err != nil {
				return nil, fmt.Errorf("listing TrafficShifts: %w", err)
			}
			return l, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			w, err := s.c.Watch(ctx, &sluicev1alpha1.TrafficShiftList{}, opts(o))
			f.track(err)
			if err != nil {
				return nil, fmt.Errorf("watching TrafficShifts: %w", err)
			}
			return w, nil
		},
	}
}

// followShifts runs client-go's UntilWithSync over the TrafficShifts lw serves: synced
// is called once with the initial objects, then each event goes to onEvent until it
// returns true or ctx ends. The reflector's own logging is silenced; failures reach
// apiFailures instead.
func followShifts(ctx context.Context, lw cache.ListerWatcher, synced func([]*sluicev1alpha1.TrafficShift), onEvent func(watch.Event) bool) error {
	ctx = klog.NewContext(ctx, logr.Discard())
	pre := func(store cache.Store) (bool, error) {
		var items []*sluicev1alpha1.TrafficShift
		for _, o := range store.List() {
			if ts, ok := o.(*sluicev1alpha1.TrafficShift); ok {
				items = append(items, ts)
			}
		}
		synced(items)
		return false, nil
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &sluicev1alpha1.TrafficShift{}, pre, func(ev watch.Event) (bool, error) {
		return onEvent(ev), nil
	})
	return err
}

// waiter follows one TrafficShift until awaited.judge says done.
type waiter struct {
	s     *session
	name  string
	want  awaited
	grace time.Duration
	total int // steps, 0 when unknown
	out   io.Writer
	warn  io.Writer
	now   func() time.Time

	mu       sync.Mutex
	startRV  string                       // resourceVersion of the TrafficShift when the wait began ("" = absent)
	last     *sluicev1alpha1.TrafficShift // latest state seen (nil = absent)
	lastKey  string                       // progressKey of the last printed line
	notFound bool                         // the absence of the TrafficShift was reported
	result   verdict
}

// verdictCause ends a wait from outside the event stream (the Invalid grace timer).
type verdictCause struct{ v verdict }

func (v *verdictCause) Error() string { return v.v.why }

// run follows the TrafficShift with watchtools.UntilWithSync (list, watch, re-watch,
// re-list on expiry) and returns how the wait ended.
func (w *waiter) run(ctx context.Context) verdict {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	failures := &apiFailures{cancel: cancel, warn: w.warn}
	var graceTimer *time.Timer
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	synced := func(items []*sluicev1alpha1.TrafficShift) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(items) == 0 {
			w.observe(nil)
			return
		}
		w.startRV = items[0].ResourceVersion
		if items[0].Status.Phase == sluicev1alpha1.PhaseInvalid {
			graceTimer = time.AfterFunc(w.grace, func() { w.graceExpired(cancel) })
		}
	}
	onEvent := func(ev watch.Event) bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch ev.Type {
		case watch.Added, watch.Modified:
			ts, ok := ev.Object.(*sluicev1alpha1.TrafficShift)
			if !ok {
				return false
			}
			w.last = ts
			if v := w.observe(ts); v.done {
				w.result = v
				return true
			}
		case watch.Deleted:
			w.result = verdict{true, ExitError, fmt.Sprintf("TrafficShift %s/%s was deleted: the Service was opted out of sluice or deleted", w.s.ns, w.name)}
			return true
		}
		return false
	}
	err := followShifts(ctx, w.s.shiftListWatch(w.s.ns, w.name, failures), synced, onEvent)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && w.result.done {
		return w.result
	}
	var vc *verdictCause
	var unreachable *errAPIUnreachable
	switch cause := context.Cause(ctx); {
	case errors.As(cause, &vc):
		return vc.v
	case errors.As(cause, &unreachable):
		return verdict{true, ExitError, unreachable.Error()}
	case cause != nil:
		return w.ended(cause)
	}
	return verdict{true, ExitError, fmt.Sprintf("watching TrafficShift %s/%s: %v", w.s.ns, w.name, err)}
}

// graceExpired ends the wait when an Invalid status present at the start stayed unchanged.
func (w *waiter) graceExpired(cancel context.CancelCauseFunc) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last != nil && w.last.ResourceVersion == w.startRV {
		if v := w.want.judge(&w.last.Status, true); v.done {
			cancel(&verdictCause{v})
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

// ended is the verdict when the wait's context ends: a timeout, or an interruption.
func (w *waiter) ended(cause error) verdict {
	state := "no TrafficShift"
	if w.last != nil {
		state = progressLine(w.now(), w.name, &w.last.Status, w.total)
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return verdict{true, ExitTimeout, fmt.Sprintf("timed out waiting for the rollout of %q; last state: %s", w.want.canary, state)}
	}
	return verdict{true, ExitError, fmt.Sprintf("interrupted while waiting for the rollout of %q: %v", w.want.canary, cause)}
}
