package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

// BenchmarkSendWithHangingSink measures Send, the only part of notifying on the caller's
// path, while one sink never answers (its queue fills and drops) and another takes
// everything.
func BenchmarkSendWithHangingSink(b *testing.B) {
	hang := notifytest.NewReceiver(b, v1alpha1.SinkSlack, "", "")
	hang.Always(notifytest.Answer{Hang: true})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)
	n := notify.New(notify.Options{Timeout: time.Minute, Every: func(v1alpha1.SinkType) time.Duration { return 0 }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Start(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	sinks := []notify.Sink{
		{Name: "hangs", Type: v1alpha1.SinkSlack, URL: hang.URL},
		{Name: "works", Type: v1alpha1.SinkWebhook, URL: sink.URL},
	}
	recs := make([]record.Record, b.N)
	for i := range recs {
		recs[i] = rec(strconv.Itoa(i), record.StepAdvanced)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n.Send(recs[i], sinks)
	}
}
