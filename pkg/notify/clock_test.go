package notify_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

// waitWaiter waits until something sleeps on clk: the notifier is waiting for its time.
func waitWaiter(t *testing.T, clk *testingclock.FakeClock) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !clk.HasWaiters() {
		if time.Now().After(deadline) {
			t.Fatal("nothing waits on the clock after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// Each service's documented pace holds per endpoint: Slack one message a second, WeCom
// and DingTalk 20 a minute (one every 3 s, never a burst), Feishu 100 a minute and 5 a
// second (one every 600 ms).
func TestPacePerEndpoint(t *testing.T) {
	tests := map[v1alpha1.SinkType]struct {
		every  time.Duration
		secret string
	}{
		v1alpha1.SinkSlack:       {every: time.Second},
		v1alpha1.SinkWeCom:       {every: 3 * time.Second},
		v1alpha1.SinkDingTalk:    {every: 3 * time.Second, secret: "SECding"},
		v1alpha1.SinkFeishu:      {every: 600 * time.Millisecond, secret: "feishu"},
		v1alpha1.SinkCloudEvents: {every: 100 * time.Millisecond},
	}
	for typ, tc := range tests {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			clk := testingclock.NewFakeClock(time.Now())
			rcv := notifytest.NewReceiver(t, typ, tc.secret, "")
			h := newHarness(t, notify.Options{Clock: clk, Timeout: 5 * time.Second})
			h.start(t)
			// Two sinks naming the same robot share its pace.
			a, b := sinkFor("a", rcv), sinkFor("b", rcv)
			h.Send(rec("1", record.StepAdvanced), []notify.Sink{a})
			h.Send(rec("2", record.StepAdvanced), []notify.Sink{b})
			h.Send(rec("3", record.StepAdvanced), []notify.Sink{a})
			rcv.WaitAccepted(t, 1, 5*time.Second)
			for k := 2; k <= 3; k++ {
				waitWaiter(t, clk)
				clk.Step(tc.every - time.Millisecond)
				time.Sleep(50 * time.Millisecond)
				if n := len(rcv.Arrivals()); n != k-1 {
					t.Fatalf("%d messages %s after the previous one, want %d", n, tc.every-time.Millisecond, k-1)
				}
				clk.Step(time.Millisecond)
				rcv.WaitAccepted(t, k, 5*time.Second)
			}
		})
	}
}

// OnFailing fires once a sink has failed for a minute, not again while it keeps failing,
// and again after it delivered and then failed for another minute.
func TestOnFailingOncePerOutage(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	rcv := notifytest.NewReceiver(t, v1alpha1.SinkWebhook, "", "")
	rcv.Always(notifytest.Answer{Status: http.StatusInternalServerError})
	type call struct {
		at, since time.Time
	}
	var mu sync.Mutex
	var calls []call
	o := notify.Options{
		Clock: clk, Timeout: 5 * time.Second, Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second, MaxAttempts: 1000,
		Every: func(v1alpha1.SinkType) time.Duration { return 0 }, // no pacing
		OnFailing: func(sink string, since time.Time, err error) {
			mu.Lock()
			defer mu.Unlock()
			if sink != "pager" || err == nil {
				t.Errorf("OnFailing(%q, %s, %v)", sink, since, err)
			}
			calls = append(calls, call{at: clk.Now(), since: since})
		},
	}
	h := newHarness(t, o)
	h.start(t)
	s := sinkFor("pager", rcv)
	callsNow := func() []call {
		mu.Lock()
		defer mu.Unlock()
		return append([]call(nil), calls...)
	}
	// attempts steps the clock through n failed attempts, 10 s apart.
	attempts := func(n int) {
		for range n {
			waitWaiter(t, clk)
			k := len(rcv.Arrivals())
			clk.Step(10 * time.Second)
			rcv.Wait(t, 5*time.Second, func(as []notifytest.Arrival) bool { return len(as) > k })
		}
	}

	start := clk.Now()
	h.Send(rec("1", record.RolledBack), []notify.Sink{s})
	rcv.Wait(t, 5*time.Second, func(as []notifytest.Arrival) bool { return len(as) == 1 })
	attempts(5) // failing for 50 s
	if c := callsNow(); len(c) != 0 {
		t.Fatalf("OnFailing called after 50 s of failures: %v", c)
	}
	attempts(1) // 60 s
	waitWaiter(t, clk)
	if c := callsNow(); len(c) != 1 || !c[0].since.Equal(start) || c[0].at.Sub(start) != time.Minute {
		t.Fatalf("calls %v, want one after a minute since %s", c, start)
	}
	attempts(6) // two minutes
	if c := callsNow(); len(c) != 1 {
		t.Fatalf("OnFailing called %d times in one outage", len(c))
	}
	// The sink comes back: the message goes out.
	rcv.Always(notifytest.Answer{})
	waitWaiter(t, clk)
	clk.Step(10 * time.Second)
	rcv.WaitAccepted(t, 1, 5*time.Second)
	// And fails again, for a minute.
	rcv.Always(notifytest.Answer{Status: http.StatusBadGateway})
	again := clk.Now()
	k := len(rcv.Arrivals())
	h.Send(rec("2", record.RolledBack), []notify.Sink{s})
	rcv.Wait(t, 5*time.Second, func(as []notifytest.Arrival) bool { return len(as) == k+1 })
	attempts(6)
	waitWaiter(t, clk)
	if c := callsNow(); len(c) != 2 || !c[1].since.Equal(again) {
		t.Fatalf("calls %v, want a second one since %s", c, again)
	}
}
