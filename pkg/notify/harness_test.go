package notify_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

// harness is a Notifier under test with its counter and its log.
type harness struct {
	*notify.Notifier
	counter *prometheus.CounterVec
	logs    *logLines
	stop    func()
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// fast are options for tests on the real clock: short waits, no pacing.
func fast() notify.Options {
	return notify.Options{
		Timeout: 2 * time.Second, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Every: func(v1alpha1.SinkType) time.Duration { return time.Millisecond },
	}
}

// newHarness builds a Notifier from o with a counter and a captured log; start runs it.
func newHarness(t *testing.T, o notify.Options) *harness {
	t.Helper()
	h := &harness{counter: notify.NewCounter(), logs: &logLines{}}
	o.Counter = h.counter
	o.Log = funcr.New(h.logs.add, funcr.Options{Verbosity: 1})
	h.Notifier = notify.New(o)
	h.stop = func() {}
	return h
}

// start runs the notifier until the test ends (or h.stop).
func (h *harness) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Start(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Start: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Start did not return 10 s after its context ended")
			}
		})
	}
	t.Cleanup(h.stop)
}

func (h *harness) count(s notify.Sink, result string) float64 {
	return testutil.ToFloat64(h.counter.WithLabelValues(s.Name, string(s.Type), result))
}

// waitCount waits until the sink's result count reaches want.
func (h *harness) waitCount(t *testing.T, s notify.Sink, result string, want float64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for h.count(s, result) < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v after %s, want %v", s.Name, result, h.count(s, result), timeout, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func sinkFor(name string, r *notifytest.Receiver) notify.Sink {
	return notify.Sink{Name: name, Type: r.Type, URL: r.URL, Secret: r.Secret, Token: r.Token}
}

var decided = time.Date(2026, 3, 4, 3, 0, 0, 0, time.UTC)

// rec is a record of event for shop/reviews with the numbers a message carries.
func rec(id string, e record.Event) record.Record {
	fault := decided.Add(-400 * time.Millisecond)
	return record.Record{
		ID: id, Event: e, Namespace: "shop", Service: "reviews", Cluster: "prod-eu",
		From:    record.Version{Subset: "v1", Images: []string{"registry.example.com/shop/reviews:1.4.2"}},
		To:      record.Version{Subset: "v2", Images: []string{"registry.example.com/shop/reviews:1.5.0"}},
		Weight:  record.Weights{Before: 25, After: 0},
		Step:    record.Step{Index: 2, Of: 4},
		Reason:  "ErrorRate",
		Message: "canary error rate 9.80% is above 1.00%",
		Window: &record.Window{Seconds: 30,
			Canary: record.Traffic{Requests: 510, Errors: 50, ErrorRate: 0.098, P50Ms: 12.5, P99Ms: 480},
			Stable: record.Traffic{Requests: 1520, Errors: 2, ErrorRate: 0.0013, P50Ms: 11, P99Ms: 95}},
		Release: record.Release{Commit: "4f2a9c1d8e7b6a5f", Pipeline: "deploy-reviews #42", URL: "https://ci.example.com/runs/42", By: "alice"},
		Times:   record.Times{FaultAt: &fault, DecidedAt: decided},
	}
}
