// Package record is the one structured record of a rollout transition: built once by the
// controller and sent unchanged to the log (one JSON line), the TrafficShift history,
// Events and the notification sinks. Its JSON field names are a stable schema.
package record

import "time"

// Event is the kind of transition.
type Event string

// The transitions a record is made for.
const (
	Started          Event = "started"
	StepAdvanced     Event = "step-advanced"
	Paused           Event = "paused"
	Resumed          Event = "resumed"
	Promoted         Event = "promoted"
	RolledBack       Event = "rolled-back"
	Invalid          Event = "invalid"
	AwaitingApproval Event = "awaiting-approval"
)

// Events lists every event, in lifecycle order.
func Events() []Event {
	return []Event{Started, StepAdvanced, Paused, Resumed, AwaitingApproval, Promoted, RolledBack, Invalid}
}

// Record is one transition of one Service's rollout.
type Record struct {
	// ID identifies the transition: the same transition, decided again after a retried
	// reconcile, has the same ID, so it is sent once.
	ID        string `json:"id"`
	Event     Event  `json:"event"`
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	// Cluster is the controller's --cluster-name, for teams with many clusters.
	Cluster string `json:"cluster,omitempty"`
	// From is the stable subset, To the canary.
	From Version `json:"from"`
	To   Version `json:"to"`
	// Weight is the canary weight before and after the transition.
	Weight Weights `json:"weight"`
	// Step is the step the rollout is at after the transition (0 before the first).
	Step Step `json:"step"`
	// Reason is the machine-readable reason (package reason); Message says it for people.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Window is the traffic the decision saw, when it saw any.
	Window *Window `json:"window,omitempty"`
	// Alert is the Alertmanager alert that caused the transition, if one did.
	Alert   *Alert  `json:"alert,omitempty"`
	Release Release `json:"release"`
	Times   Times   `json:"times"`
}

// Version is what runs in one subset: its name, the images of its Ready pods, and their
// app.kubernetes.io/version label when they carry one.
type Version struct {
	Subset  string   `json:"subset"`
	Images  []string `json:"images,omitempty"`
	Version string   `json:"version,omitempty"`
}

// Weights are the canary weight before and after.
type Weights struct {
	Before int32 `json:"before"`
	After  int32 `json:"after"`
}

// Step is the current step and the number of steps.
type Step struct {
	Index int32 `json:"index"`
	Of    int32 `json:"of"`
}

// Window is the per-subset traffic of the guard's window.
type Window struct {
	Seconds float64 `json:"seconds"`
	Canary  Traffic `json:"canary"`
	Stable  Traffic `json:"stable"`
}

// Traffic is one subset's requests, errors and latency over the window.
type Traffic struct {
	Requests  int64   `json:"requests"`
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"errorRate"`
	// P50Ms and P99Ms are latency quantiles in milliseconds; 0 when unknown.
	P50Ms float64 `json:"p50Ms,omitempty"`
	P99Ms float64 `json:"p99Ms,omitempty"`
}

// Alert is the firing Alertmanager alert behind a transition.
type Alert struct {
	Name         string    `json:"name"`
	Fingerprint  string    `json:"fingerprint"`
	Summary      string    `json:"summary,omitempty"`
	StartsAt     time.Time `json:"startsAt"`
	GeneratorURL string    `json:"generatorURL,omitempty"`
}

// Release is who released the canary, from the sluice.dev/release-* annotations written
// with the canary they name.
type Release struct {
	Commit   string `json:"commit,omitempty"`
	Pipeline string `json:"pipeline,omitempty"`
	URL      string `json:"url,omitempty"`
	By       string `json:"by,omitempty"`
}

// Times are when things happened; nil when not known.
type Times struct {
	// FaultAt is when the canary's trouble began (the alert's start, or the first
	// failing window), for rollbacks.
	FaultAt *time.Time `json:"faultAt,omitempty"`
	// DecidedAt is when sluice decided; WrittenAt when the VirtualServices took the
	// weight; ConfirmedAt when the callers' proxies were seen applying it.
	DecidedAt   time.Time  `json:"decidedAt"`
	WrittenAt   *time.Time `json:"writtenAt,omitempty"`
	ConfirmedAt *time.Time `json:"confirmedAt,omitempty"`
}
