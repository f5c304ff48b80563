package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Phase is where a TrafficShift's rollout stands.
// +kubebuilder:validation:Enum=Idle;WaitingForCanary;Progressing;Paused;AwaitingApproval;Promoted;RolledBack;Invalid
type Phase string

const (
	// PhaseIdle: the stable subset serves alone and no rollout is asked for.
	PhaseIdle Phase = "Idle"
	// PhaseProgressing: traffic is moving to the canary step by step.
	PhaseProgressing Phase = "Progressing"
	// PhasePaused: the weight is held; the guard keeps running.
	PhasePaused Phase = "Paused"
	// PhaseWaitingForCanary: the rollout waits for the canary's pods to be Ready before
	// its first step; no traffic has moved.
	PhaseWaitingForCanary Phase = "WaitingForCanary"
	// PhaseAwaitingApproval: a step with an approval gate held its dwell; the weight is
	// held until sluice.dev/approve names the canary. The guard keeps running.
	PhaseAwaitingApproval Phase = "AwaitingApproval"
	// PhasePromoted: the canary serves alone and is the new stable.
	PhasePromoted Phase = "Promoted"
	// PhaseRolledBack: the canary weight is 0 and stays so for this canary.
	PhaseRolledBack Phase = "RolledBack"
	// PhaseInvalid: the Service's annotations, policy or routing objects are unusable.
	PhaseInvalid Phase = "Invalid"
)

// Condition types set on a TrafficShift.
const (
	// ConditionReady is True when sluice can manage the Service (spec valid, routes found).
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout is under way.
	ConditionProgressing = "Progressing"
	// ConditionObservable is True while the canary's stats are being read.
	ConditionObservable = "Observable"
	// ConditionDataPlane is True once the callers' proxies applied the last weight written.
	ConditionDataPlane = "DataPlaneConfirmed"
	// ConditionRoutesWritten is False while a weight write has not reached every
	// VirtualService (status.pendingWrite says which and why).
	ConditionRoutesWritten = "RoutesWritten"
)

// TrafficShiftSpec is empty: the Service's annotations are the spec. The object exists
// so that rollout state is durable and visible.
type TrafficShiftSpec struct {
	// Service is the name of the Service this TrafficShift tracks (same namespace).
	// +optional
	Service string `json:"service,omitempty"`
}

// Decision is the last verdict of the decision engine.
type Decision struct {
	// Action is Hold, Advance, Promote, Pause or Rollback.
	Action string `json:"action,omitempty"`
	// Reason is a machine-readable CamelCase reason.
	Reason string `json:"reason,omitempty"`
	// Message explains the decision with the numbers it rests on.
	Message string `json:"message,omitempty"`
	// Time is when the decision was taken.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// SubsetWindow summarises one subset's traffic over the latest window.
type SubsetWindow struct {
	Subset   string `json:"subset,omitempty"`
	Requests int64  `json:"requests"`
	Errors   int64  `json:"errors"`
	// ErrorRate is Errors/Requests formatted as a decimal string (e.g. "0.0123"), empty without requests.
	// +optional
	ErrorRate string `json:"errorRate,omitempty"`
	// P50Millis and P99Millis are latency quantiles in milliseconds, empty without samples.
	// +optional
	P50Millis string `json:"p50Millis,omitempty"`
	// +optional
	P99Millis string `json:"p99Millis,omitempty"`
	// Quantile is the quantile the latency guard judges, e.g. "0.95": guard.maxLatency's or
	// sluice.dev/max-latency's, else "0.99".
	// +optional
	Quantile string `json:"quantile,omitempty"`
	// LatencyMillis is the subset's latency at Quantile in milliseconds, empty without
	// samples: with the other subset's, the numbers a latency rollback compares.
	// +optional
	LatencyMillis string `json:"latencyMillis,omitempty"`
	// Pods is how many pods contributed data; FailedPods how many could not be read.
	Pods       int32 `json:"pods"`
	FailedPods int32 `json:"failedPods,omitempty"`
}

// WindowStatus is the latest per-subset window.
type WindowStatus struct {
	// Seconds is the length of time the window actually covers.
	Seconds string        `json:"seconds,omitempty"`
	Stable  *SubsetWindow `json:"stable,omitempty"`
	Canary  *SubsetWindow `json:"canary,omitempty"`
}

// DataPlaneStatus is what the callers' proxies confirmed of sluice's last weight write
// (read from their config dumps; only with sluice.dev/stats-from and the controller's
// --config-dump-port).
type DataPlaneStatus struct {
	// Weight is the canary weight written.
	Weight int32 `json:"weight"`
	// WrittenAt is when the VirtualService patch returned.
	WrittenAt *metav1.MicroTime `json:"writtenAt,omitempty"`
	// AppliedAt is when every caller was first seen routing with Weight; empty until then.
	// +optional
	AppliedAt *metav1.MicroTime `json:"appliedAt,omitempty"`
	// PropagationSeconds is AppliedAt − WrittenAt, e.g. "0.112".
	// +optional
	PropagationSeconds string `json:"propagationSeconds,omitempty"`
	// Callers is how many caller proxies were read; Applied how many had Weight.
	Callers int32 `json:"callers"`
	Applied int32 `json:"applied"`
	// CanaryDrainedAt, after a rollback, is the first read at which the canary's request
	// counters had reached their final value (they then did not grow for a second): canary
	// traffic had stopped by then.
	// +optional
	CanaryDrainedAt *metav1.MicroTime `json:"canaryDrainedAt,omitempty"`
	// DrainSeconds is CanaryDrainedAt − WrittenAt.
	// +optional
	DrainSeconds string `json:"drainSeconds,omitempty"`
}

// RolloutRecord is one finished rollout.
type RolloutRecord struct {
	Stable     string       `json:"stable,omitempty"`
	Canary     string       `json:"canary"`
	Result     Phase        `json:"result"`
	Reason     string       `json:"reason,omitempty"`
	Message    string       `json:"message,omitempty"`
	StartedAt  *metav1.Time `json:"startedAt,omitempty"`
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// Release is what was released and by whom.
	// +optional
	Release *ReleaseContext `json:"release,omitempty"`
}

// ReleaseContext is what a rollout released and who released it.
type ReleaseContext struct {
	// Commit, Pipeline, URL and By come from the sluice.dev/release-* annotations.
	// +optional
	Commit string `json:"commit,omitempty"`
	// +optional
	Pipeline string `json:"pipeline,omitempty"`
	// +optional
	URL string `json:"url,omitempty"`
	// +optional
	By string `json:"by,omitempty"`
	// Stable and Canary are what runs in each subset.
	Stable SubsetRelease `json:"stable"`
	Canary SubsetRelease `json:"canary"`
}

// SubsetRelease is what runs in one subset: the container images of its Ready pods and
// their app.kubernetes.io/version label.
type SubsetRelease struct {
	Subset string `json:"subset,omitempty"`
	// +optional
	Images []string `json:"images,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
}

// RouteRef names one http route of a VirtualService.
type RouteRef struct {
	VirtualService string `json:"virtualService"`
	// Index is the route's position in spec.http.
	Index int32 `json:"index"`
	// Name is the route's name, if it has one.
	// +optional
	Name string `json:"name,omitempty"`
}

// IgnoredVirtualService routes to the Service's host but has no route sluice shifts: it
// is reported, never written.
type IgnoredVirtualService struct {
	Name string `json:"name"`
	// Reason lists its routes to the host and what each is, e.g. "http[0]: sends to
	// productpage without a subset; tcp[0]: tcp route (sluice shifts http routes only)".
	Reason string `json:"reason"`
}

// AlertRecord is a firing Alertmanager alert received for the Service while a canary
// carried traffic. Any replica records it (the receiver answers Alertmanager only once it
// is recorded); the leader acts on it.
type AlertRecord struct {
	// Fingerprint is Alertmanager's identity of the alert; with StartsAt it makes repeats
	// of the same alert one record.
	Fingerprint string `json:"fingerprint"`
	// Name is the alertname label.
	Name string `json:"name"`
	// Canary is the canary that carried traffic when the alert was recorded.
	Canary string `json:"canary"`
	// Summary is the alert's summary (or description) annotation.
	// +optional
	Summary string `json:"summary,omitempty"`
	// StartsAt is when the alert started firing; GeneratorURL links to its source.
	StartsAt metav1.Time `json:"startsAt"`
	// +optional
	GeneratorURL string `json:"generatorURL,omitempty"`
	// ReceivedAt is when sluice recorded it.
	ReceivedAt metav1.MicroTime `json:"receivedAt"`
	// ActedAt is when the rollout acted on it; Action what it did (Rollback, Pause, Ignore).
	// +optional
	ActedAt *metav1.MicroTime `json:"actedAt,omitempty"`
	// +optional
	Action string `json:"action,omitempty"`
}

// WriteFailure is a VirtualService that did not take a weight write.
type WriteFailure struct {
	VirtualService string `json:"virtualService"`
	// Message is the last error (an admission denial, a conflict, an API error).
	Message string `json:"message"`
}

// PendingWrite is a weight write that has not reached every VirtualService yet. sluice
// retries it with backoff until it has; a rollback's is never given up while a
// VirtualService still routes to the canary.
type PendingWrite struct {
	// Action is what the write finishes: Rollback, Promote, Supersede, OptOut, or Undo (a
	// step's write that failed on some VirtualService, set back on the others).
	Action string `json:"action"`
	Stable string `json:"stable"`
	Canary string `json:"canary"`
	// Weight is the canary weight to write (100 for a promotion).
	Weight int32 `json:"weight"`
	// Since is when the write was first tried; Attempts counts the passes since.
	// +optional
	Since    *metav1.MicroTime `json:"since,omitempty"`
	Attempts int32             `json:"attempts"`
	// Failures are the VirtualServices that have not taken it yet.
	Failures []WriteFailure `json:"failures"`
}

// TrafficShiftStatus is the durable state of a Service's rollout.
type TrafficShiftStatus struct {
	// ObservedGeneration is the Service generation last acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Phase Phase `json:"phase,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Stable is the subset serving outside a rollout.
	// +optional
	Stable string `json:"stable,omitempty"`
	// Canary is the subset being rolled out (or last rolled out).
	// +optional
	Canary string `json:"canary,omitempty"`
	// Step is the 1-based index of the current step; 0 before the first.
	// +optional
	Step int32 `json:"step,omitempty"`
	// Weight is the canary weight sluice last wrote.
	// +optional
	Weight int32 `json:"weight"`
	// RolloutStartedAt is when the current rollout began (microsecond precision: it
	// identifies the rollout across controller restarts).
	// +optional
	RolloutStartedAt *metav1.MicroTime `json:"rolloutStartedAt,omitempty"`
	// WaitingSince is when the rollout began waiting for its canary's pods (phase
	// WaitingForCanary).
	// +optional
	WaitingSince *metav1.MicroTime `json:"waitingSince,omitempty"`
	// StepStartedAt is when the current step's weight was written (microsecond
	// precision: dwell times are measured from it).
	// +optional
	StepStartedAt *metav1.MicroTime `json:"stepStartedAt,omitempty"`
	// StepRequests counts canary requests seen since the step started.
	// +optional
	StepRequests int64 `json:"stepRequests,omitempty"`
	// PausedReason says why the rollout is paused.
	// +optional
	PausedReason string `json:"pausedReason,omitempty"`
	// LastDecision is the decision engine's latest verdict that changed something.
	// +optional
	LastDecision *Decision `json:"lastDecision,omitempty"`
	// Window is the latest per-subset window.
	// +optional
	Window *WindowStatus `json:"window,omitempty"`
	// DataPlane is the callers' confirmation of the last weight write.
	// +optional
	DataPlane *DataPlaneStatus `json:"dataPlane,omitempty"`
	// VirtualServices are the VirtualServices sluice manages for this Service.
	// +optional
	VirtualServices []string `json:"virtualServices,omitempty"`
	// ManagedRoutes are the routes whose weights sluice moves.
	// +optional
	ManagedRoutes []RouteRef `json:"managedRoutes,omitempty"`
	// BypassRoutes send to the host without a subset, so the shift does not apply to them.
	// +optional
	BypassRoutes []RouteRef `json:"bypassRoutes,omitempty"`
	// IgnoredVirtualServices route to the host without a route sluice shifts (gateway
	// routes without subsets, tcp or tls routes, delegate roots, routes pinned elsewhere,
	// malformed routes); they are reported and never written.
	// +optional
	IgnoredVirtualServices []IgnoredVirtualService `json:"ignoredVirtualServices,omitempty"`
	// Alerts are the firing Alertmanager alerts received for the Service's rollouts, newest
	// last (at most 20).
	// +optional
	Alerts []AlertRecord `json:"alerts,omitempty"`
	// PendingWrite is a weight write some VirtualServices have not taken yet.
	// +optional
	PendingWrite *PendingWrite `json:"pendingWrite,omitempty"`
	// LastRetry is the sluice.dev/retry value last acted on, so a retry is used once.
	// +optional
	LastRetry string `json:"lastRetry,omitempty"`
	// Release is what the current (or last) rollout releases and who released it.
	// +optional
	Release *ReleaseContext `json:"release,omitempty"`
	// Transitions counts the rollout records made for this Service; it numbers them, so
	// a transition decided again after a failed status write keeps its record's id.
	// +optional
	Transitions int64 `json:"transitions,omitempty"`
	// History lists the last finished rollouts, newest first.
	// +optional
	History []RolloutRecord `json:"history,omitempty"`
}

// TrafficShift is the rollout state of one opted-in Service; sluice writes it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ts
// +kubebuilder:printcolumn:name="STABLE",type=string,JSONPath=`.status.stable`
// +kubebuilder:printcolumn:name="CANARY",type=string,JSONPath=`.status.canary`
// +kubebuilder:printcolumn:name="WEIGHT",type=integer,JSONPath=`.status.weight`
// +kubebuilder:printcolumn:name="STEP",type=integer,JSONPath=`.status.step`
// +kubebuilder:printcolumn:name="PHASE",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type TrafficShift struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TrafficShiftSpec   `json:"spec,omitempty"`
	Status TrafficShiftStatus `json:"status,omitempty"`
}

// TrafficShiftList is a list of TrafficShift.
// +kubebuilder:object:root=true
type TrafficShiftList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrafficShift `json:"items"`
}
