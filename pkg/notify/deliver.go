package notify

import (
	"context"
	"sync"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// worker delivers one sink's queue, one message at a time and in order: a message is
// retried until it is sent or given up before the next one goes.
type worker struct {
	n    *Notifier
	name string
	typ  v1alpha1.SinkType

	mu   sync.Mutex
	q    queue
	wake chan struct{}

	// Only the worker's goroutine touches these.
	failingSince time.Time
	reported     bool
}

// push queues it and returns what it dropped to make room.
func (w *worker) push(it item) (item, bool) {
	w.mu.Lock()
	old, dropped := w.q.push(it)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return old, dropped
}

func (w *worker) pop() (item, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.q.pop()
}

func (w *worker) run(ctx context.Context) {
	for {
		it, ok := w.pop()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
				continue
			}
		}
		w.deliver(ctx, it)
	}
}

// deliver tries it until the sink takes it, refuses it, or the attempts run out.
func (w *worker) deliver(ctx context.Context, it item) {
	n := w.n
	lim := n.limiter(it.sink)
	for attempt := 1; ; attempt++ {
		now := n.o.Clock.Now()
		if d := lim.ReserveN(now, 1).DelayFrom(now); d > 0 && !n.sleep(ctx, d) {
			n.dropped(it, "the notifier stopped before sending it")
			return
		}
		o := n.attempt(ctx, it)
		if ctx.Err() != nil {
			n.dropped(it, "the notifier stopped while sending it")
			return
		}
		if o.err == nil {
			n.count(it.sink, ResultSent)
			w.healthy(it)
			n.o.Log.V(1).Info("notification sent", logKV(it, "attempts", attempt, "waited", n.o.Clock.Since(it.queued))...)
			return
		}
		w.failing(it, o.err)
		if !o.retry || attempt >= n.o.MaxAttempts {
			n.count(it.sink, ResultFailed)
			n.o.Log.Error(o.err, "notification failed", logKV(it, "attempts", attempt, "retryable", o.retry)...)
			return
		}
		n.count(it.sink, ResultRetried)
		wait := n.backoff(attempt)
		if o.after > wait {
			wait = min(o.after, n.o.MaxRetryAfter)
		}
		n.o.Log.V(1).Info("notification attempt failed; retrying", logKV(it, "attempt", attempt, "in", wait, "error", o.err.Error())...)
		if !n.sleep(ctx, wait) {
			n.dropped(it, "the notifier stopped before retrying it")
			return
		}
	}
}

// backoff is the wait after the attempt-th failed attempt: Backoff doubled each time, at
// most MaxBackoff.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.o.Backoff
	for i := 1; i < attempt && d < n.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.o.MaxBackoff)
}

// sleep waits d on the notifier's clock; false when ctx ended first.
func (n *Notifier) sleep(ctx context.Context, d time.Duration) bool {
	t := n.o.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// failing notes a failed attempt, and calls OnFailing once the sink has failed for
// FailingAfter.
func (w *worker) failing(it item, err error) {
	n := w.n
	now := n.o.Clock.Now()
	if w.failingSince.IsZero() {
		w.failingSince = now
	}
	if w.reported || now.Sub(w.failingSince) < n.o.FailingAfter {
		return
	}
	w.reported = true
	n.o.Log.Error(err, "notification sink failing", logKV(it, "since", w.failingSince)...)
	if n.o.OnFailing != nil {
		n.o.OnFailing(w.name, w.failingSince, err)
	}
}

// healthy notes a delivery: the sink's failures, if any, are over.
func (w *worker) healthy(it item) {
	if w.reported {
		w.n.o.Log.Info("notification sink recovered", logKV(it, "failingSince", w.failingSince)...)
	}
	w.failingSince, w.reported = time.Time{}, false
}
