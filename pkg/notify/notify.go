// Package notify delivers rollout records to notification sinks, asynchronously.
package notify

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"k8s.io/utils/clock"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify/message"
	"github.com/sluicedev/sluice/pkg/record"
)

// Sink is one resolved notification sink: a ShiftPolicy's NotifySink with the values of
// its Secret.
type Sink struct {
	// Name labels the sink in metrics, logs and Events.
	Name string
	Type v1alpha1.SinkType
	// URL is the Secret's "url"; Secret its "secret" (Feishu and DingTalk signing);
	// Token its "token" (a bearer token for webhook and CloudEvents sinks).
	URL, Secret, Token string
	// Events are the transitions the sink receives; empty means all.
	Events []record.Event
	// Template overrides message.DefaultTemplate for the chat types.
	Template string
}

func (s Sink) wants(e record.Event) bool {
	return len(s.Events) == 0 || slices.Contains(s.Events, e)
}

// CheckTemplate reports whether src parses as a notification template (see
// message.DefaultTemplate for what a template may use).
func CheckTemplate(src string) error { return message.CheckTemplate(src) }

// Options configure a Notifier; the zero value of each field is a working default.
type Options struct {
	Log logr.Logger
	// Counter is sluice_notifications_total (NewCounter); nil counts nowhere.
	Counter *prometheus.CounterVec
	// HTTPClient sends the requests; nil is a client that does not follow redirects (a
	// redirected POST would be resent as a GET and look delivered).
	HTTPClient *http.Client
	Clock      clock.Clock
	// QueueSize bounds each sink's queue (default 100).
	QueueSize int
	// Timeout bounds each attempt, connecting to reading the answer (default 10 s).
	Timeout time.Duration
	// MaxAttempts is how often a message is tried before it fails (default 8).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after each (default
	// 1 s) up to MaxBackoff (default 1 min): with the defaults a sink that never answers
	// is tried for about two minutes.
	Backoff, MaxBackoff time.Duration
	// MaxRetryAfter caps the wait a sink asks for with Retry-After (default 10 min,
	// DingTalk's throttling period).
	MaxRetryAfter time.Duration
	// FailingAfter is how long a sink fails before OnFailing is called (default 1 min).
	FailingAfter time.Duration
	// OnFailing is called once when a sink has failed for FailingAfter, with when its
	// failures began and the last error; again only after it delivered and failed anew.
	// It runs on the sink's delivery goroutine, so it should return quickly (record an
	// Event, not wait for one).
	OnFailing func(sink string, since time.Time, err error)
	// Dedupe is how many (sink, record ID) pairs are remembered to send each transition
	// once (default 4096).
	Dedupe int
	// Every overrides the shortest interval between two messages to one endpoint, which
	// is otherwise the one each service documents (message.Every); 0 is no pacing.
	Every func(v1alpha1.SinkType) time.Duration
}

func (o *Options) defaults() {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 10 * time.Minute
	}
	if o.FailingAfter <= 0 {
		o.FailingAfter = time.Minute
	}
	if o.Dedupe <= 0 {
		o.Dedupe = 4096
	}
	if o.Every == nil {
		o.Every = message.Every
	}
}

// Notifier queues records for sinks and delivers them in the background: Send never
// waits for a sink. It is a controller-runtime Runnable that runs only on the leader, so
// one replica sends; records sent to it before it starts wait in their queues.
type Notifier struct {
	o Options

	mu       sync.Mutex
	ctx      context.Context // Start's, while running
	running  bool
	stopped  bool
	workers  map[string]*worker
	limiters map[string]*rate.Limiter
	recent   *recent
	wg       sync.WaitGroup
}

// New returns a Notifier; it sends once Start runs.
func New(o Options) *Notifier {
	o.defaults()
	return &Notifier{o: o, workers: map[string]*worker{}, limiters: map[string]*rate.Limiter{}, recent: newRecent(o.Dedupe)}
}

// NeedLeaderElection is true: only the leader sends.
func (n *Notifier) NeedLeaderElection() bool { return true }

// Send queues r for every sink in sinks that wants r's event, and returns at once. A
// record whose ID a sink already had (a transition decided again) is not queued again.
// When a sink's queue is full, its oldest message that is not a rollback is dropped.
func (n *Notifier) Send(r record.Record, sinks []Sink) {
	r = copyRecord(r)
	now := n.o.Clock.Now()
	type drop struct {
		it  item
		why string
	}
	var drops []drop
	n.mu.Lock()
	for _, s := range sinks {
		if !s.wants(r.Event) {
			continue
		}
		it := item{rec: r, sink: s, queued: now}
		switch {
		case n.stopped:
			drops = append(drops, drop{it, "the notifier has stopped"})
		case !n.recent.add(s.Name, r.ID):
			n.count(s, ResultDuplicate)
		default:
			// Queued under n.mu, so Start's final drain sees every item queued before
			// it stopped.
			if old, ok := n.workerFor(s).push(it); ok {
				drops = append(drops, drop{old, "the sink's queue is full"})
			}
		}
	}
	n.mu.Unlock()
	for _, d := range drops {
		n.dropped(d.it, d.why)
	}
}

// Start delivers until ctx ends; then it reports the messages it could not send.
func (n *Notifier) Start(ctx context.Context) error {
	n.mu.Lock()
	if n.running || n.stopped {
		n.mu.Unlock()
		return errors.New("the notifier was already started")
	}
	n.ctx, n.running = ctx, true
	for _, w := range n.workers {
		n.launch(w)
	}
	n.mu.Unlock()

	<-ctx.Done()
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.wg.Wait()
	n.mu.Lock()
	var left []item
	for _, w := range n.workers {
		w.mu.Lock()
		left = append(left, w.q.drain()...)
		w.mu.Unlock()
	}
	n.mu.Unlock()
	for _, it := range left {
		n.dropped(it, "the notifier stopped before sending it")
	}
	return nil
}

// workerFor is the worker of sink s, created (and started, when running) on first use.
// A sink is its name, type and URL: a changed URL is a new endpoint with its own queue.
// n.mu is held.
func (n *Notifier) workerFor(s Sink) *worker {
	key := s.Name + "\x00" + string(s.Type) + "\x00" + s.URL
	w, ok := n.workers[key]
	if !ok {
		w = &worker{n: n, name: s.Name, typ: s.Type, q: queue{size: n.o.QueueSize}, wake: make(chan struct{}, 1)}
		n.workers[key] = w
		if n.running {
			n.launch(w)
		}
	}
	return w
}

// launch runs w until Start's context ends. n.mu is held.
func (n *Notifier) launch(w *worker) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		w.run(n.ctx)
	}()
}

// limiter paces the messages to one endpoint (type and URL), whichever sink names it.
func (n *Notifier) limiter(s Sink) *rate.Limiter {
	key := string(s.Type) + "\x00" + s.URL
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.limiters[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(n.o.Every(s.Type)), 1)
		n.limiters[key] = l
	}
	return l
}

func (n *Notifier) count(s Sink, result string) {
	if n.o.Counter != nil {
		n.o.Counter.WithLabelValues(s.Name, string(s.Type), result).Inc()
	}
}

// logKV are the log keys of one message: never its URL's path or query, which are
// credentials.
func logKV(it item, kv ...any) []any {
	return append([]any{
		"sink", it.sink.Name, "type", it.sink.Type, "where", message.Where(it.sink.URL),
		"record", it.rec.ID, "event", it.rec.Event, "namespace", it.rec.Namespace, "service", it.rec.Service,
	}, kv...)
}

func (n *Notifier) dropped(it item, why string) {
	n.count(it.sink, ResultDropped)
	n.o.Log.Error(errors.New(why), "notification dropped", logKV(it)...)
}

// copyRecord copies r's slices and pointers, so the caller may reuse its own.
func copyRecord(r record.Record) record.Record {
	r.From.Images = slices.Clone(r.From.Images)
	r.To.Images = slices.Clone(r.To.Images)
	if r.Window != nil {
		w := *r.Window
		r.Window = &w
	}
	if r.Alert != nil {
		a := *r.Alert
		r.Alert = &a
	}
	r.Times.FaultAt = clonePtr(r.Times.FaultAt)
	r.Times.WrittenAt = clonePtr(r.Times.WrittenAt)
	r.Times.ConfirmedAt = clonePtr(r.Times.ConfirmedAt)
	return r
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
