// Package vswatch records every watch event of a VirtualService, with the time the watch
// delivered it, and every distinct weight split its default route takes: the ground
// truth for rollout timings and for the routing invariants (invariants.go) in the
// end-to-end tests and the demo.
package vswatch

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/klog/v2"

	"github.com/sluicedev/sluice/e2e/standin"
)

// Entry is one distinct split of the default route.
type Entry struct {
	At      time.Time
	Weights map[string]int32
}

// Event is one watch event as delivered: its type (ADDED, MODIFIED, DELETED) and the
// VirtualService as JSON. The objects listed when the watch starts come as ADDED; after a
// relist, objects that changed meanwhile come as MODIFIED (or DELETED).
type Event struct {
	At     time.Time
	Type   watch.EventType
	Object []byte
}

// Log is the history of one VirtualService: every event, and its default-route weights.
type Log struct {
	mu      sync.Mutex
	entries []Entry
	events  []Event
}

// Watch starts recording VirtualService name in namespace ns for Service svc until ctx
// ends. An informer lists and watches it, so the recording goes on across API server
// restarts: when the API server cannot resume the watch (410 Gone after a restart), it
// lists again and the state it finds is recorded like any other event.
func Watch(ctx context.Context, dyn dynamic.Interface, ns, name, svc string) (*Log, error) {
	res := dyn.Resource(standin.VirtualServiceGVR).Namespace(ns)
	byName := "metadata.name=" + name
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return res.Watch(ctx, o)
		},
	}
	if _, err := res.List(ctx, metav1.ListOptions{FieldSelector: byName, Limit: 1}); err != nil {
		return nil, fmt.Errorf("listing VirtualService %s/%s: %w", ns, name, err)
	}
	_, ctrl, w, done := watchtools.NewIndexerInformerWatcherWithLogger(klog.FromContext(ctx), lw, &unstructured.Unstructured{})
	if !cache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced) {
		w.Stop()
		return nil, fmt.Errorf("watching VirtualService %s/%s: %w", ns, name, ctx.Err())
	}
	l := &Log{}
	go func() {
		<-ctx.Done()
		w.Stop()
	}()
	go func() {
		defer func() { <-done }()
		for ev := range w.ResultChan() {
			at := time.Now()
			if ev.Type != watch.Added && ev.Type != watch.Modified && ev.Type != watch.Deleted {
				continue // bookmarks, errors
			}
			if raw, err := json.Marshal(ev.Object); err == nil {
				l.record(at, ev.Type, raw, ns, svc)
			}
		}
	}()
	return l, nil
}

func (l *Log) record(at time.Time, typ watch.EventType, raw []byte, ns, svc string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, Event{At: at, Type: typ, Object: raw})
	ws, err := standin.WeightsFromJSON(raw, ns, svc)
	if err != nil || typ == watch.Deleted {
		return
	}
	if n := len(l.entries); n == 0 || !maps.Equal(l.entries[n-1].Weights, ws) {
		l.entries = append(l.entries, Entry{At: at, Weights: ws})
	}
}

// Events returns every event recorded so far, oldest first.
func (l *Log) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// CanarySeq is the sequence of distinct weights subset took (absent = 0).
func (l *Log) CanarySeq(subset string) []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int32
	for _, e := range l.entries {
		w := e.Weights[subset]
		if len(out) == 0 || out[len(out)-1] != w {
			out = append(out, w)
		}
	}
	return out
}

// FirstAfter returns when subset's weight was first w at or after t.
func (l *Log) FirstAfter(t time.Time, subset string, w int32) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if !e.At.Before(t) && e.Weights[subset] == w {
			return e.At, true
		}
	}
	return time.Time{}, false
}

// FirstAbove returns when subset's weight was first above 0 at or after t.
func (l *Log) FirstAbove(t time.Time, subset string) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.entries {
		if !e.At.Before(t) && e.Weights[subset] > 0 {
			return e.At, true
		}
	}
	return time.Time{}, false
}
