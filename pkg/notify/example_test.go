package notify_test

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/record"
)

// The controller builds one Notifier, adds it to its manager (it runs on the leader
// only), and hands it each transition's record with the sinks its policy names, resolved
// with their Secrets.
func Example() {
	counter := notify.NewCounter()
	prometheus.NewRegistry().MustRegister(counter) // the controller's registry
	n := notify.New(notify.Options{
		Log:     logr.Discard(),
		Counter: counter,
		OnFailing: func(sink string, since time.Time, err error) {
			// record a Warning Event: "sink %s has failed since %s: %v"
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = n.Start(ctx) }() // mgr.Add(n) in the controller

	sinks := []notify.Sink{{
		Name: "team-chat", Type: v1alpha1.SinkWeCom,
		URL:    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…", // the Secret's "url"
		Events: []record.Event{record.RolledBack, record.Promoted},
	}}
	n.Send(record.Record{ID: "shop/reviews/7", Event: record.RolledBack, Namespace: "shop", Service: "reviews"}, sinks)
}
