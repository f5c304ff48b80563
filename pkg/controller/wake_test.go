package controller

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sluicedev/sluice/pkg/metrics"
)

// TestWakeIndexDue: a failing subset wakes the rollouts of that host whose canary it is:
// at once once a recheck's interval has passed since their last tick, at that interval's
// end before it; not when their next tick comes about as soon anyway, nor twice for the
// same tick; a rollout that ended, or moved on, is not woken for its past.
func TestWakeIndexDue(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)
	const interval = 500 * time.Millisecond
	const host, other = "reviews.shop.svc.cluster.local", "ratings.shop.svc.cluster.local"
	a, b, c := types.NamespacedName{Namespace: "shop", Name: "a"}, types.NamespacedName{Namespace: "shop", Name: "b"}, types.NamespacedName{Namespace: "shop", Name: "c"}
	noteA := func(x *wakeIndex) { x.note(a, host, "v2", interval, t0, t0.Add(interval)) }
	type woken struct {
		key types.NamespacedName
		at  time.Duration // after t0
	}
	tests := map[string]struct {
		setup        func(*wakeIndex)
		host, subset string
		at           time.Duration // after t0
		want         []woken
	}{
		"canary failing, mid-interval": {setup: noteA, host: host, subset: "v2", at: 200 * time.Millisecond, want: []woken{{a, 200 * time.Millisecond}}},
		"stable failing":               {setup: noteA, host: host, subset: "v1", at: 200 * time.Millisecond},
		"another host":                 {setup: noteA, host: other, subset: "v2", at: 200 * time.Millisecond},
		"just ticked: woken a recheck's interval after the tick": {
			setup: noteA, host: host, subset: "v2", at: time.Millisecond, want: []woken{{a, interval / 5}},
		},
		"a recheck's interval after its tick": {setup: noteA, host: host, subset: "v2", at: interval / 5, want: []woken{{a, interval / 5}}},
		"its tick about to come":              {setup: noteA, host: host, subset: "v2", at: interval - wakeLead},
		"already woken as early": {
			setup: func(x *wakeIndex) { noteA(x); x.due(host, "v2", t0.Add(time.Millisecond)) },
			host:  host, subset: "v2", at: 50 * time.Millisecond,
		},
		"woken again after its next tick": {
			setup: func(x *wakeIndex) {
				noteA(x)
				x.due(host, "v2", t0.Add(200*time.Millisecond))
				x.note(a, host, "v2", interval, t0.Add(205*time.Millisecond), t0.Add(705*time.Millisecond))
			},
			host: host, subset: "v2", at: 400 * time.Millisecond, want: []woken{{a, 400 * time.Millisecond}},
		},
		"several rollouts of the host, by canary": {
			setup: func(x *wakeIndex) {
				noteA(x)
				x.note(b, host, "v3", interval, t0, t0.Add(interval))
				x.note(c, host, "v2", 2*time.Second, t0, t0.Add(2*time.Second))
			},
			host: host, subset: "v2", at: 400 * time.Millisecond, want: []woken{{a, 400 * time.Millisecond}, {c, 400 * time.Millisecond}},
		},
		"a longer interval's longer gap": {
			setup: func(x *wakeIndex) { x.note(c, host, "v2", 2*time.Second, t0, t0.Add(2*time.Second)) },
			host:  host, subset: "v2", at: 300 * time.Millisecond, want: []woken{{c, 400 * time.Millisecond}},
		},
		"rollout ended": {
			setup: func(x *wakeIndex) { noteA(x); x.drop(a) },
			host:  host, subset: "v2", at: 200 * time.Millisecond,
		},
		"new canary": {
			setup: func(x *wakeIndex) { noteA(x); x.note(a, host, "v3", interval, t0, t0.Add(interval)) },
			host:  host, subset: "v2", at: 200 * time.Millisecond,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var x wakeIndex
			tc.setup(&x)
			var got []woken
			for _, w := range x.due(tc.host, tc.subset, t0.Add(tc.at)) {
				got = append(got, woken{w.key, w.at.Sub(t0)})
			}
			slices.SortFunc(got, func(p, q woken) int { return strings.Compare(p.key.String(), q.key.String()) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("due = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWakeNeverBlocks: with the controller not taking wakes, Wake drops them, and counts
// only those it queued.
func TestWakeNeverBlocks(t *testing.T) {
	m, err := metrics.New(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 12, 4, 7, 0, 1, 0, time.UTC)), Metrics: m}
	t0 := time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)
	for i := range wakeBuffer + 10 {
		r.wakes.note(types.NamespacedName{Namespace: "shop", Name: fmt.Sprintf("svc-%d", i)}, "h", "v2", 500*time.Millisecond, t0, t0.Add(2*time.Second))
	}
	done := make(chan struct{})
	go func() { r.Wake("h", "v2"); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Wake blocked with the controller not reading")
	}
	if n := len(r.wakes.events()); n != wakeBuffer {
		t.Errorf("%d wakes queued, want the buffer's %d", n, wakeBuffer)
	}
	if n := testutil.CollectAndCount(m.Wakes); n != wakeBuffer {
		t.Errorf("sluice_wakes_total has %d Services, want the %d woken", n, wakeBuffer)
	}
}
