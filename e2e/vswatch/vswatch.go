// Package vswatch records, with the time the watch delivered it, every weight split a
// VirtualService's default route takes: the ground truth for rollout timings in the
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
	"k8s.io/client-go/dynamic"

	"github.com/sluicedev/sluice/e2e/standin"
)

// Entry is one distinct split of the default route.
type Entry struct {
	At      time.Time
	Weights map[string]int32
}

// Log is the history of one VirtualService's default-route weights.
type Log struct {
	mu      sync.Mutex
	entries []Entry
}

// Watch starts recording VirtualService name in namespace ns for Service svc until ctx ends.
func Watch(ctx context.Context, dyn dynamic.Interface, ns, name, svc string) (*Log, error) {
	w, err := dyn.Resource(standin.VirtualServiceGVR).Namespace(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return nil, fmt.Errorf("watching VirtualService %s/%s: %w", ns, name, err)
	}
	l := &Log{}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			at := time.Now()
			raw, err := json.Marshal(ev.Object)
			if err != nil {
				continue
			}
			ws, err := standin.WeightsFromJSON(raw, ns, svc)
			if err != nil {
				continue
			}
			l.mu.Lock()
			if n := len(l.entries); n == 0 || !maps.Equal(l.entries[n-1].Weights, ws) {
				l.entries = append(l.entries, Entry{At: at, Weights: ws})
			}
			l.mu.Unlock()
		}
	}()
	return l, nil
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
