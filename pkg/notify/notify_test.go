package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

func TestEveryTypeDelivers(t *testing.T) {
	tests := map[v1alpha1.SinkType]struct {
		secret, token string
		want          string // in the human text
	}{
		v1alpha1.SinkSlack:       {want: "50 errors (9.80%), p50 12.5 ms, p99 480.0 ms"},
		v1alpha1.SinkWeCom:       {want: "50 errors (9.80%), p50 12.5 ms, p99 480.0 ms"},
		v1alpha1.SinkFeishu:      {secret: "feishu-secret", want: "50 errors (9.80%), p50 12.5 ms, p99 480.0 ms"},
		v1alpha1.SinkDingTalk:    {secret: "SECdingtalk", want: "50 errors (9.80%), p50 12.5 ms, p99 480.0 ms"},
		v1alpha1.SinkCloudEvents: {token: "ce-token"},
		v1alpha1.SinkWebhook:     {token: "hook-token"},
	}
	for typ, tc := range tests {
		t.Run(string(typ), func(t *testing.T) {
			rcv := notifytest.NewReceiver(t, typ, tc.secret, tc.token)
			h := newHarness(t, fast())
			h.start(t)
			s := sinkFor("team", rcv)
			r := rec("shop.reviews.1", record.RolledBack)
			h.Send(r, []notify.Sink{s})
			got := rcv.WaitAccepted(t, 1, 5*time.Second)[0]
			if tc.want != "" && !strings.Contains(got.Message.Text, tc.want) {
				t.Errorf("the message lacks %q:\n%s", tc.want, got.Message.Text)
			}
			if got.Message.Record != nil && got.Message.Record.ID != r.ID {
				t.Errorf("record %q, want %q", got.Message.Record.ID, r.ID)
			}
			h.waitCount(t, s, notify.ResultSent, 1, time.Second)
		})
	}
}

func TestEventsFilterAndDuplicates(t *testing.T) {
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	h := newHarness(t, fast())
	h.start(t)
	s := sinkFor("rollbacks-only", rcv)
	s.Events = []record.Event{record.RolledBack}
	h.Send(rec("a", record.StepAdvanced), []notify.Sink{s})
	h.Send(rec("b", record.RolledBack), []notify.Sink{s})
	h.Send(rec("b", record.RolledBack), []notify.Sink{s}) // the same transition, decided again
	h.Send(rec("c", record.RolledBack), []notify.Sink{s})
	rcv.WaitAccepted(t, 2, 5*time.Second)
	time.Sleep(100 * time.Millisecond)
	var ids []string
	for _, a := range rcv.Arrivals() {
		ids = append(ids, a.Message.Record.ID)
	}
	if fmt.Sprint(ids) != "[b c]" {
		t.Errorf("arrived %v, want [b c]", ids)
	}
	if d := h.count(s, notify.ResultDuplicate); d != 1 {
		t.Errorf("duplicates counted %v, want 1", d)
	}
}

func TestFlappingSinkGetsRetriesAndNoDuplicates(t *testing.T) {
	for _, typ := range []v1alpha1.SinkType{v1alpha1.SinkSlack, v1alpha1.SinkWeCom, v1alpha1.SinkWebhook} {
		t.Run(string(typ), func(t *testing.T) {
			rcv := notifytest.NewReceiver(t, typ, "", "")
			o := fast()
			o.Timeout = 300 * time.Millisecond
			h := newHarness(t, o)
			h.start(t)
			answers := []notifytest.Answer{
				{Status: http.StatusServiceUnavailable},
				{Status: http.StatusTooManyRequests, RetryAfter: "1"},
				{Hang: true}, // a timeout
				{Status: http.StatusBadGateway},
			}
			if typ == v1alpha1.SinkWeCom {
				answers = append(answers, notifytest.Refuse(typ, 45009)) // "api freq out of limit"
			}
			rcv.Next(answers...)
			s := sinkFor("flappy", rcv)
			r := rec("shop.reviews.flap", record.RolledBack)
			h.Send(r, []notify.Sink{s})
			h.Send(r, []notify.Sink{s}) // a retried reconcile
			rcv.WaitAccepted(t, 1, 10*time.Second)
			h.waitCount(t, s, notify.ResultSent, 1, time.Second)
			time.Sleep(200 * time.Millisecond) // anything more would arrive now
			as := rcv.Arrivals()
			if len(as) != len(answers)+1 || len(rcv.Accepted()) != 1 {
				t.Fatalf("%d arrivals, %d accepted; want %d and 1", len(as), len(rcv.Accepted()), len(answers)+1)
			}
			for i, a := range as {
				if a.Err != nil {
					t.Errorf("arrival %d: %v", i, a.Err)
				}
			}
			if gap := as[2].At.Sub(as[1].At); gap < 900*time.Millisecond {
				t.Errorf("the attempt after a 429 with Retry-After: 1 came %s later", gap)
			}
			if got := h.count(s, notify.ResultRetried); got != float64(len(answers)) {
				t.Errorf("retried %v, want %d", got, len(answers))
			}
			if h.count(s, notify.ResultFailed) != 0 || h.count(s, notify.ResultDuplicate) != 1 {
				t.Errorf("failed %v duplicate %v, want 0 and 1", h.count(s, notify.ResultFailed), h.count(s, notify.ResultDuplicate))
			}
		})
	}
}

func TestRefusalsAreNotRetried(t *testing.T) {
	tests := map[string]struct {
		typ    v1alpha1.SinkType
		answer notifytest.Answer
	}{
		"slack 400":                 {typ: v1alpha1.SinkSlack, answer: notifytest.Answer{Status: http.StatusBadRequest, Body: "invalid_blocks"}},
		"slack 404":                 {typ: v1alpha1.SinkSlack, answer: notifytest.Answer{Status: http.StatusNotFound, Body: "channel_not_found"}},
		"webhook 401":               {typ: v1alpha1.SinkWebhook, answer: notifytest.Answer{Status: http.StatusUnauthorized}},
		"wecom bad key in a 200":    {typ: v1alpha1.SinkWeCom, answer: notifytest.Refuse(v1alpha1.SinkWeCom, 93000)},
		"dingtalk bad sign":         {typ: v1alpha1.SinkDingTalk, answer: notifytest.Refuse(v1alpha1.SinkDingTalk, 310000)},
		"feishu bad sign":           {typ: v1alpha1.SinkFeishu, answer: notifytest.Refuse(v1alpha1.SinkFeishu, 19021)},
		"a redirect is not trusted": {typ: v1alpha1.SinkWebhook, answer: notifytest.Answer{Status: http.StatusFound}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rcv := notifytest.NewReceiver(t, tc.typ, "", "")
			rcv.Always(tc.answer)
			h := newHarness(t, fast())
			h.start(t)
			s := sinkFor("strict", rcv)
			h.Send(rec("x", record.RolledBack), []notify.Sink{s})
			h.waitCount(t, s, notify.ResultFailed, 1, 5*time.Second)
			time.Sleep(150 * time.Millisecond)
			if n := len(rcv.Arrivals()); n != 1 || h.count(s, notify.ResultRetried) != 0 {
				t.Errorf("%d attempts, %v retried; want 1 and 0", n, h.count(s, notify.ResultRetried))
			}
			if !strings.Contains(h.logs.all(), `"notification failed"`) {
				t.Errorf("the failure was not logged:\n%s", h.logs.all())
			}
		})
	}
}

func TestAttemptsRunOut(t *testing.T) {
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	rcv.Always(notifytest.Answer{Status: http.StatusInternalServerError})
	o := fast()
	o.MaxAttempts = 3
	h := newHarness(t, o)
	h.start(t)
	s := sinkFor("down", rcv)
	h.Send(rec("x", record.RolledBack), []notify.Sink{s})
	h.waitCount(t, s, notify.ResultFailed, 1, 5*time.Second)
	if n := len(rcv.Arrivals()); n != 3 || h.count(s, notify.ResultRetried) != 2 {
		t.Errorf("%d attempts, %v retried; want 3 and 2", n, h.count(s, notify.ResultRetried))
	}
}

func TestFullQueueDropsAndCounts(t *testing.T) {
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	o := fast()
	o.QueueSize = 3
	h := newHarness(t, o)
	s := sinkFor("small", rcv)
	// Not started yet (not the leader): the queue fills.
	for _, r := range []record.Record{
		rec("1", record.Started), rec("2", record.StepAdvanced), rec("3", record.RolledBack),
		rec("4", record.Started), rec("5", record.StepAdvanced),
	} {
		h.Send(r, []notify.Sink{s})
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(rcv.Arrivals()); n != 0 {
		t.Fatalf("%d messages arrived before the notifier started", n)
	}
	if d := h.count(s, notify.ResultDropped); d != 2 {
		t.Errorf("dropped %v, want 2", d)
	}
	if logs := h.logs.all(); strings.Count(logs, `"notification dropped"`) != 2 || !strings.Contains(logs, "queue is full") {
		t.Errorf("the drops were not logged:\n%s", logs)
	}
	h.start(t)
	as := rcv.WaitAccepted(t, 3, 5*time.Second)
	var ids []string
	for _, a := range as {
		ids = append(ids, a.Message.Record.ID)
	}
	if fmt.Sprint(ids) != "[3 4 5]" {
		t.Errorf("delivered %v, want [3 4 5]: the rollback kept, the oldest others dropped", ids)
	}
}

func TestStopReportsWhatWasNotSent(t *testing.T) {
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	rcv.Always(notifytest.Answer{Hang: true})
	o := fast()
	o.Timeout = time.Minute
	h := newHarness(t, o)
	h.start(t)
	s := sinkFor("stuck", rcv)
	h.Send(rec("1", record.RolledBack), []notify.Sink{s})
	h.Send(rec("2", record.Promoted), []notify.Sink{s})
	rcv.Wait(t, 5*time.Second, func(as []notifytest.Arrival) bool { return len(as) == 1 })
	h.stop()
	h.Send(rec("3", record.Started), []notify.Sink{s})
	if d := h.count(s, notify.ResultDropped); d != 3 {
		t.Errorf("dropped %v, want 3 (one in flight, one queued, one sent after the stop)", d)
	}
	if err := h.Start(context.Background()); err == nil {
		t.Error("a stopped notifier started again")
	}
	if !h.NeedLeaderElection() {
		t.Error("NeedLeaderElection is false: every replica would send")
	}
}

// A dead or slow sink never delays the caller, nor the other sinks.
func TestHangingSinkDelaysNobody(t *testing.T) {
	hang := notifytest.NewReceiver(t, v1alpha1.SinkSlack, "", "")
	hang.Always(notifytest.Answer{Hang: true})
	ok := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	o := fast()
	o.Timeout = 5 * time.Second
	h := newHarness(t, o)
	h.start(t)
	sinks := []notify.Sink{sinkFor("hangs", hang), sinkFor("works", ok)}
	const n = 50
	var slowest time.Duration
	begin := time.Now()
	for i := range n {
		t0 := time.Now()
		h.Send(rec(fmt.Sprint(i), record.StepAdvanced), sinks)
		slowest = max(slowest, time.Since(t0))
	}
	ok.WaitAccepted(t, n, 5*time.Second)
	all := time.Since(begin)
	t.Logf("%d Sends: slowest %s; the working sink had all %d after %s while the other hung", n, slowest, n, all)
	// Waiting on the hanging sink would take its timeout (5 s); a busy machine takes tens
	// of milliseconds at worst. Half the timeout tells the two apart without timing the
	// machine.
	if slowest >= o.Timeout/2 {
		t.Errorf("a Send took %s with a hanging sink (its timeout: %s)", slowest, o.Timeout)
	}
	if all >= o.Timeout {
		t.Errorf("the working sink took %s for %d messages next to a hanging one (its timeout: %s)", all, n, o.Timeout)
	}
	if len(hang.Arrivals()) != 1 {
		t.Errorf("%d requests to the hanging sink, want the 1 still waiting", len(hang.Arrivals()))
	}
}

func TestURLCredentialsNeverLogged(t *testing.T) {
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkSlack, "", "")
	rcv.Always(notifytest.Answer{Hang: true})
	o := fast()
	o.Timeout = 50 * time.Millisecond
	o.MaxAttempts = 2
	var failingErr string
	var mu sync.Mutex
	o.FailingAfter = time.Nanosecond
	o.OnFailing = func(_ string, _ time.Time, err error) {
		mu.Lock()
		defer mu.Unlock()
		failingErr = err.Error()
	}
	h := newHarness(t, o)
	h.start(t)
	s := sinkFor("secretive", rcv)
	h.Send(rec("x", record.RolledBack), []notify.Sink{s})
	h.waitCount(t, s, notify.ResultFailed, 1, 5*time.Second)
	mu.Lock()
	defer mu.Unlock()
	logs := h.logs.all() + "\n" + failingErr
	if strings.Contains(logs, "SECRET") {
		t.Errorf("a URL credential reached the log or the OnFailing error:\n%s", logs)
	}
	if !strings.Contains(logs, "http://127.0.0.1") || !strings.Contains(failingErr, "deadline exceeded") {
		t.Errorf("the log does not say where and why:\n%s", logs)
	}
}

func TestSendCopiesTheRecord(t *testing.T) {
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	h := newHarness(t, fast())
	s := sinkFor("copy", rcv)
	r := rec("x", record.RolledBack)
	h.Send(r, []notify.Sink{s})
	r.To.Images[0], r.Window.Canary.Errors = "changed", 0 // the caller reuses its record
	h.start(t)
	got := rcv.WaitAccepted(t, 1, 5*time.Second)[0].Message.Record
	want := rec("x", record.RolledBack)
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("sent\n%s\nwant\n%s", a, b)
	}
}

// A redirect is refused by the default client rather than followed as a GET.
func TestDefaultClientDoesNotFollowRedirects(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/hook" {
			http.Redirect(w, r, "/elsewhere", http.StatusMovedPermanently)
		}
	}))
	defer srv.Close()
	o := fast()
	h := newHarness(t, o)
	h.start(t)
	s := notify.Sink{Name: "moved", Type: v1alpha1.SinkWebhook, URL: srv.URL + "/hook"}
	h.Send(rec("x", record.RolledBack), []notify.Sink{s})
	h.waitCount(t, s, notify.ResultFailed, 1, 5*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(methods) != "[POST /hook]" {
		t.Errorf("requests %v, want only the POST", methods)
	}
}
