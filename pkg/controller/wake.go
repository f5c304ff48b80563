package controller

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/sluicedev/sluice/pkg/analysis"
)

// Waking a rollout whose canary just failed.
//
// Services that read their stats from shared callers (sluice.dev/stats-from) get a page
// of each caller once per tick interval, and each ticks on its own schedule: a fault
// shows on a page up to an interval after it starts and is read up to an interval after
// that (bench/scale at 1,000: fault → weight 0 0.5–1.6 s). When a caller's new page shows
// a subset's 5xx count grown, source.CallerPages calls Wake, which moves the next tick of
// every active rollout of that host whose canary is that subset to now: the tick it would
// have had anyway, sooner, reading the page that showed the failures. A rollout that
// ticked less than a recheck's interval ago (its interval / analysis.RecheckDivisor), or
// whose tick is due within wakeLead, is left alone; a canary that keeps failing is ticked
// about once per page, as often as before.

// wakeLead is how far ahead a woken tick is queued, and how close a due tick must be to
// be left alone. client-go's delaying queue moves an item's waiting entry earlier when
// the new time is still ahead as its timer loop takes the add; an add that is already due
// (no delay, or a loop more than wakeLead behind on a loaded machine) is queued beside the
// waiting entry instead, and the rollout gets one extra tick, harmless but not intended.
const wakeLead = 5 * time.Millisecond

// wakeBuffer is how many wakes may wait for the controller; more are dropped (the
// rollouts tick on schedule).
const wakeBuffer = 1024

// wakeKey is a host and a subset of it.
type wakeKey struct{ host, subset string }

// wakeIndex is where the active rollouts' ticks are, by host and canary. Safe for
// concurrent use.
type wakeIndex struct {
	mu    sync.Mutex
	by    map[wakeKey]map[types.NamespacedName]ticks
	of    map[types.NamespacedName]wakeKey
	queue chan event.TypedGenericEvent[reconcile.Request]
	once  sync.Once
}

// ticks are a rollout's last tick, its next, and the least time between the two a wake
// may leave.
type ticks struct {
	last, next time.Time
	gap        time.Duration
}

// note records that key's rollout of canary on host, ticking every interval, ticked at
// last and ticks next at next.
func (x *wakeIndex) note(key types.NamespacedName, host, canary string, interval time.Duration, last, next time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.by == nil {
		x.by, x.of = map[wakeKey]map[types.NamespacedName]ticks{}, map[types.NamespacedName]wakeKey{}
	}
	k := wakeKey{host, canary}
	if old, ok := x.of[key]; ok && old != k {
		x.dropLocked(key)
	}
	if x.by[k] == nil {
		x.by[k] = map[types.NamespacedName]ticks{}
	}
	x.by[k][key], x.of[key] = ticks{last: last, next: next, gap: interval / analysis.RecheckDivisor}, k
}

// drop forgets key's rollout (ended, or its Service gone).
func (x *wakeIndex) drop(key types.NamespacedName) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(key)
}

func (x *wakeIndex) dropLocked(key types.NamespacedName) {
	k, ok := x.of[key]
	if !ok {
		return
	}
	delete(x.by[k], key)
	if len(x.by[k]) == 0 {
		delete(x.by, k)
	}
	delete(x.of, key)
}

// due returns the rollouts of host whose canary is subset that may be woken at now.
func (x *wakeIndex) due(host, subset string, now time.Time) []types.NamespacedName {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []types.NamespacedName
	for key, t := range x.by[wakeKey{host, subset}] {
		if now.Sub(t.last) >= t.gap && t.next.Sub(now) > wakeLead {
			out = append(out, key)
		}
	}
	return out
}

// events is the channel the controller takes wakes from.
func (x *wakeIndex) events() chan event.TypedGenericEvent[reconcile.Request] {
	x.once.Do(func() { x.queue = make(chan event.TypedGenericEvent[reconcile.Request], wakeBuffer) })
	return x.queue
}

// Wake moves the next tick of each active rollout of host whose canary is subset to now
// (source.CallerPages.Failing). It never blocks: with the controller behind, a wake is
// dropped and the rollout ticks on schedule.
func (r *Reconciler) Wake(host, subset string) {
	ch := r.wakes.events()
	for _, key := range r.wakes.due(host, subset, r.Clock.Now()) {
		select {
		case ch <- event.TypedGenericEvent[reconcile.Request]{Object: reconcile.Request{NamespacedName: key}}:
			if r.Metrics != nil {
				r.Metrics.Wakes.WithLabelValues(key.Namespace, key.Name).Inc()
			}
		default:
			return
		}
	}
}

// wakeSource is the controller's source of wakes: each moves the rollout's waiting tick
// to wakeLead from now.
func (r *Reconciler) wakeSource() source.TypedSource[reconcile.Request] {
	return source.Channel(r.wakes.events(), handler.TypedFuncs[reconcile.Request, reconcile.Request]{
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[reconcile.Request], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.AddAfter(e.Object, wakeLead)
		},
	})
}
