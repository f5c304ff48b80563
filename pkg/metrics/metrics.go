// Package metrics defines the controller's own Prometheus metrics, registered against an
// injected registerer.
package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the controller's instruments.
type Metrics struct {
	Decisions     *prometheus.CounterVec
	CanaryWeight  *prometheus.GaugeVec
	TickSeconds   prometheus.Histogram
	ScrapeErrors  *prometheus.CounterVec
	PatchFailures *prometheus.CounterVec
	FaultToZero   prometheus.Histogram
	Propagation   prometheus.Histogram
	Rechecks      *prometheus.CounterVec
	// Wakes counts ticks moved to now because a caller's page showed the canary failing.
	Wakes *prometheus.CounterVec
	// AlertsReceived counts the Alertmanager alerts the receiver answered, by result.
	AlertsReceived *prometheus.CounterVec
	// Rollouts counts finished rollouts by result; Rollbacks counts rollbacks by reason.
	Rollouts  *prometheus.CounterVec
	Rollbacks *prometheus.CounterVec
	// Phase is 1 for each Service's current phase, 0 for its others.
	Phase *prometheus.GaugeVec
	// Detection is the time from the first tick with the canary over a limit to the
	// rollback decision; TickLag the time from a tick's scheduled start to its actual one.
	Detection prometheus.Histogram
	TickLag   prometheus.Histogram
}

// New builds the metrics and registers them with reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_decisions_total",
			Help: "Decisions that changed a rollout, by action and reason.",
		}, []string{"action", "reason"}),
		CanaryWeight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_canary_weight",
			Help: "Canary weight sluice last wrote, per Service.",
		}, []string{"namespace", "service"}),
		TickSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_tick_duration_seconds",
			Help:    "Time one reconcile of an active rollout takes: gather, decide, act.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		ScrapeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_scrape_errors_total",
			Help: "Stats scrapes that failed, by namespace and service.",
		}, []string{"namespace", "service"}),
		PatchFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_virtualservice_patch_failures_total",
			Help: "VirtualService patches refused (conflicting concurrent edit or API error).",
		}, []string{"namespace", "service"}),
		FaultToZero: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_rollback_write_seconds",
			Help:    "Time from the start of the tick that decided a rollback to the VirtualService write returning.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		Propagation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_dataplane_propagation_seconds",
			Help:    "Time from a VirtualService weight write to every caller proxy routing with it (config dump).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		Rechecks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_guard_rechecks_total",
			Help: "Ticks run early because the previous decision saw fresh canary failures it could not judge yet, per Service.",
		}, []string{"namespace", "service"}),
		Wakes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_wakes_total",
			Help: "Ticks moved to now because a caller's new stats page showed the canary's 5xx count grown, per Service.",
		}, []string{"namespace", "service"}),
		AlertsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_alerts_received_total",
			Help: "Alertmanager alerts (and refused webhook calls) the receiver answered, by result: acted, repeat, ignored-resolved, ignored-no-rollout, ignored-other-canary, unknown-service, rejected-auth, bad-request, error.",
		}, []string{"result"}),
		Rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rollouts_total",
			Help: "Finished rollouts, by result: promoted or rolled-back.",
		}, []string{"result"}),
		Rollbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_rollbacks_total",
			Help: "Rollbacks by reason (ErrorRate, Latency, AlertFiring, Aborted, Superseded, …).",
		}, []string{"reason"}),
		Phase: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_rollout_phase",
			Help: "1 for the phase each Service's rollout is in, 0 for the others.",
		}, []string{"namespace", "service", "phase"}),
		Detection: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_detection_seconds",
			Help:    "Time from the first tick in which the canary was over a limit to the rollback decision.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		TickLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sluice_tick_lag_seconds",
			Help:    "Time from when an active rollout's tick was due to when it started (work queue and worker wait).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	for _, c := range m.Collectors() {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering sluice metrics: %w", err)
		}
	}
	return m, nil
}

// Collectors lists every instrument, for registration and for checks that dashboards and
// rules name only metrics that exist.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Decisions, m.CanaryWeight, m.TickSeconds, m.ScrapeErrors, m.PatchFailures, m.FaultToZero,
		m.Propagation, m.Rechecks, m.Wakes, m.AlertsReceived, m.Rollouts, m.Rollbacks, m.Phase, m.Detection, m.TickLag}
}
