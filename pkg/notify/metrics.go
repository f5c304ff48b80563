package notify

import "github.com/prometheus/client_golang/prometheus"

// Results of sluice_notifications_total.
const (
	// ResultSent: the sink took the message.
	ResultSent = "sent"
	// ResultRetried: an attempt failed in a way worth retrying (network error, timeout,
	// 5xx, 429, a robot's rate-limit code); another attempt follows.
	ResultRetried = "retried"
	// ResultFailed: the message is given up: the sink refused it (another 4xx, a
	// robot's error code) or the attempts ran out.
	ResultFailed = "failed"
	// ResultDropped: the message never got a final answer: the sink's queue was full,
	// or the notifier stopped (this replica lost its leadership) before sending it.
	ResultDropped = "dropped"
	// ResultDuplicate: Send was given a transition the sink already had queued or sent.
	ResultDuplicate = "duplicate"
)

// NewCounter is sluice_notifications_total{sink,type,result}, unregistered: the
// controller's metrics register it, and hand it to New in Options.Counter.
func NewCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sluice_notifications_total",
		Help: "Rollout records sent to notification sinks, by sink, type and result: sent, retried (one per retried attempt), failed, dropped, duplicate.",
	}, []string{"sink", "type", "result"})
}
