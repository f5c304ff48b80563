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
// ticked less than a recheck's interval ago (its interval / analysis.RecheckDivisor) is
// woken a recheck's interval after that tick instead: the callers' pages land close
// together, and the first to land often shows too few failures for the woken tick to
// act on, nor even to recheck; the others' failures, had their wakes been dropped as
// they were, waited for the next regular tick. A rollout whose tick comes within
// wakeLead of the wake anyway, or that a wake already moved as early, is left alone; a
// canary that keeps failing is ticked about once per page, as often as before.

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
	queue chan event.TypedGenericEvent[wake]
	once  sync.Once
}

// ticks are a rollout's last tick, its next, the least time between the two a wake may
// leave, and when a wake queued since the last tick moves the next one to (zero: none).
type ticks struct {
	last, next, woken time.Time
	gap               time.Duration
}

// wake is a rollout's tick moved to at.
type wake struct {
	key types.NamespacedName
	at  time.Time
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

// due returns the wakes of the rollouts of host whose canary is subset for failures seen
// at now: each at now, or a recheck's interval after the rollout's last tick when that is
// later; none for a rollout whose next tick is within wakeLead of that anyway, or that
// an earlier wake moves as early. It remembers the wakes it returns.
func (x *wakeIndex) due(host, subset string, now time.Time) []wake {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []wake
	byKey := x.by[wakeKey{host, subset}]
	for key, t := range byKey {
		at := t.last.Add(t.gap)
		if at.Before(now) {
			at = now
		}
		if t.next.Sub(at) <= wakeLead || (!t.woken.IsZero() && !t.woken.After(at)) {
			continue
		}
		t.woken = at
		byKey[key] = t
		out = append(out, wake{key: key, at: at})
	}
	return out
}

// events is the channel the controller takes wakes from.
func (x *wakeIndex) events() chan event.TypedGenericEvent[wake] {
	x.once.Do(func() { x.queue = make(chan event.TypedGenericEvent[wake], wakeBuffer) })
	return x.queue
}

// Wake moves the next tick of each active rollout of host whose canary is subset to now,
// or to a recheck's interval after its last tick (source.CallerPages.Failing). It never
// blocks: with the controller behind, a wake is dropped and the rollout ticks on
// schedule.
func (r *Reconciler) Wake(host, subset string) {
	ch := r.wakes.events()
	for _, wk := range r.wakes.due(host, subset, r.Clock.Now()) {
		select {
		case ch <- event.TypedGenericEvent[wake]{Object: wk}:
			if r.Metrics != nil {
				r.Metrics.Wakes.WithLabelValues(wk.key.Namespace, wk.key.Name).Inc()
			}
		default:
			return
		}
	}
}

// wakeSource is the controller's source of wakes: each moves the rollout's waiting tick
// to its time, and never closer than wakeLead from now.
func (r *Reconciler) wakeSource() source.TypedSource[reconcile.Request] {
	return source.Channel(r.wakes.events(), handler.TypedFuncs[wake, reconcile.Request]{
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[wake], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			q.AddAfter(reconcile.Request{NamespacedName: e.Object.key}, max(e.Object.at.Sub(r.Clock.Now()), wakeLead))
		},
	})
}
