// Package reason is sluice's vocabulary of machine-readable reasons: every reason it
// writes to TrafficShift status (last decision, conditions, paused reason, history),
// Events and metric labels, declared once with what it means.
//
// The README's table of reasons is generated from this file (see reason_test.go).
package reason

// The guard: it runs on every tick of an active rollout and sets the canary weight to 0
// (or pauses, per policy) when one of these trips.
const (
	// Aborted: sluice.dev/abort named the canary; it was rolled back at once.
	Aborted = "Aborted"
	// ErrorRate: the canary's error rate is above the limit and significantly above stable's.
	ErrorRate = "ErrorRate"
	// Latency: the canary's latency at a guarded quantile (p99, or the one guard.maxLatency or sluice.dev/max-latency names) is above its limit or stable's × factor, on significant evidence; the message names the quantile.
	Latency = "Latency"
	// Silent: the canary got no requests for longer than the silence timeout while its weight says it should.
	Silent = "Silent"
	// Unobservable: no canary stats could be read (or a resource or custom check had no data) for longer than the unobservable timeout.
	Unobservable = "Unobservable"
	// CanaryPodUnhealthy: a canary pod cannot run (crash loop, image pull, config), restarted since the rollout started, or too many are NotReady, and stable's pods do not show the same.
	CanaryPodUnhealthy = "CanaryPodUnhealthy"
	// CanaryMemorySpike: the canary's memory per pod stayed above stable's per-pod median × factor and above the floor for the policy's consecutive samples; the message has both sides' numbers.
	CanaryMemorySpike = "CanaryMemorySpike"
	// CanaryCPUSpike: the canary's CPU per request stayed above stable's × factor for the policy's consecutive samples; the message has both sides' numbers.
	CanaryCPUSpike = "CanaryCPUSpike"
	// CheckFailed: a custom PromQL check failed its threshold in failureLimit consecutive results; the message has the result and the query.
	CheckFailed = "CheckFailed"
	// AlertFiring: an Alertmanager alert naming the Service fired while its canary carried traffic.
	AlertFiring = "AlertFiring"
	// AlertIgnored: an alert fired during the rollout, and the policy or sluice.dev/on-alert says to ignore alerts.
	AlertIgnored = "AlertIgnored"
)

// The step judgement and its holds: why a rollout advances, promotes, pauses or waits.
const (
	// ExternalWeightChange: someone else changed the route weights; the rollout is paused instead of fighting them.
	ExternalWeightChange = "ExternalWeightChange"
	// PromoteCommand: sluice.dev/promote named the canary; it was promoted at once.
	PromoteCommand = "PromoteCommand"
	// Paused: the rollout holds its weight (pause command or policy); the guard keeps running.
	Paused = "Paused"
	// OperatorPause: the pause came from sluice.dev/paused; it ends when the annotation does.
	OperatorPause = "OperatorPause"
	// NotProgressing: nothing to judge in this phase.
	NotProgressing = "NotProgressing"
	// InvalidStep: the current step is outside the schedule (the schedule changed under the rollout).
	InvalidStep = "InvalidStep"
	// Starting: the rollout moves to its first step.
	Starting = "Starting"
	// StepComplete: the step held its dwell with enough canary requests and no trip.
	StepComplete = "StepComplete"
	// RolloutComplete: the last step held its dwell with no trip; the canary is promoted.
	RolloutComplete = "RolloutComplete"
	// Dwell: the step's dwell time has not passed yet.
	Dwell = "Dwell"
	// WaitingForRequests: the dwell passed, but the canary has not had the step's minimum requests.
	WaitingForRequests = "WaitingForRequests"
	// NoData: the canary's stats are stale or partly unreadable, or a resource sample or custom check has no data (empty, NaN, a query error); the step does not pass without data.
	NoData = "NoData"
	// AwaitingDataPlane: the callers' proxies have not confirmed the step's weight; its dwell starts then.
	AwaitingDataPlane = "AwaitingDataPlane"
	// AwaitingApproval: the step held its dwell with no trip and waits for sluice.dev/approve; the guard keeps running.
	AwaitingApproval = "AwaitingApproval"
)

// The rollout lifecycle: one reason per transition, also the reason of its Event.
const (
	// WaitingForCanary: the rollout waits, before its first step, for the canary's pods to be Ready; no traffic has moved.
	WaitingForCanary = "WaitingForCanary"
	// CanaryNotReady: the canary's pods were not Ready within the policy's readyTimeout; the rollout paused or rolled back before its first step.
	CanaryNotReady = "CanaryNotReady"
	// RolloutStarted: a new canary got its first step's weight.
	RolloutStarted = "RolloutStarted"
	// Retried: sluice.dev/retry restarted a rolled-back canary.
	Retried = "Retried"
	// StepAdvanced: the canary weight moved to the next step.
	StepAdvanced = "StepAdvanced"
	// Promoted: the canary serves alone and is the new stable.
	Promoted = "Promoted"
	// CanaryAlreadyServing: the routes already sent everything to the canary; recorded as promoted.
	CanaryAlreadyServing = "CanaryAlreadyServing"
	// RolledBack: the canary's weight went to 0 (the decision's own reason says why).
	RolledBack = "RolledBack"
	// CanarySubsetRemoved: the canary's subset left the DestinationRule mid-rollout; routes to it lead nowhere, so its traffic went back to stable.
	CanarySubsetRemoved = "CanarySubsetRemoved"
	// RolloutAdopted: the routes already sent a schedule's weight to the named canary with no rollout on record (the TrafficShift was deleted, or the split made by hand); the rollout continues at that step.
	RolloutAdopted = "RolloutAdopted"
	// Resumed: a paused rollout continues (pause annotation removed, or a retry named the canary).
	Resumed = "Resumed"
	// Approved: sluice.dev/approve passed the step's approval gate; the rollout goes on.
	Approved = "Approved"
	// Recovered: a rollout that was Invalid continues, its weights as sluice left them.
	Recovered = "Recovered"
	// Superseded: sluice.dev/canary named another subset mid-rollout; the old canary's traffic went back to stable.
	Superseded = "Superseded"
	// OptedOut: sluice.dev/enabled was removed; traffic went back to stable and sluice stopped managing the Service.
	OptedOut = "OptedOut"
	// Valid: annotations, policy and routes are valid (the Ready condition).
	Valid = "Valid"
	// VirtualServiceJoined: a VirtualService began routing to the host mid-rollout and got the rollout's weight.
	VirtualServiceJoined = "VirtualServiceJoined"
)

// Invalid input: the Service is marked Invalid, nothing is written, and a Warning Event
// (on the TrafficShift and the Service) names what to fix.
const (
	// InvalidSpec: a sluice.dev/* annotation or the ShiftPolicy has a malformed value.
	InvalidSpec = "InvalidSpec"
	// PolicyNotFound: sluice.dev/policy names a ShiftPolicy that does not exist.
	PolicyNotFound = "PolicyNotFound"
	// NoVirtualService: no VirtualService in the namespace routes to the Service's host.
	NoVirtualService = "NoVirtualService"
	// VirtualServiceNotFound: sluice.dev/virtualservice names a VirtualService that does not exist.
	VirtualServiceNotFound = "VirtualServiceNotFound"
	// SubsetNotFound: a DestinationRule subset the rollout needs is not defined.
	SubsetNotFound = "SubsetNotFound"
	// NoManagedRoute: no http route sends the host's traffic to the stable subset alone or to stable and canary.
	NoManagedRoute = "NoManagedRoute"
	// InvalidRoute: a route to the host is malformed (weights that do not sum to 100, …).
	InvalidRoute = "InvalidRoute"
	// UnknownStable: the serving subset cannot be told from the routes; set sluice.dev/stable.
	UnknownStable = "UnknownStable"
	// PrometheusNotConfigured: the policy reads stats from Prometheus, but the controller has no --prometheus-url.
	PrometheusNotConfigured = "PrometheusNotConfigured"
)

// Observation: what sluice can see of the routes, the stats and the data plane.
const (
	// RoutesBypassShift: routes send to the host without a subset, so the shift does not apply to them.
	RoutesBypassShift = "RoutesBypassShift"
	// VirtualServicesIgnored: VirtualServices route to the host without a route sluice shifts (no subset, tcp, tls, delegate root, pinned elsewhere, malformed); they are reported, never written.
	VirtualServicesIgnored = "VirtualServicesIgnored"
	// WriteFailed: a VirtualService did not take a weight write; the others did, and sluice retries it with backoff.
	WriteFailed = "WriteFailed"
	// StepWriteUndone: a step's write failed on a VirtualService; the ones that took it were set back to the step before.
	StepWriteUndone = "StepWriteUndone"
	// NotificationSinkFailing: a notification sink has failed for a minute (an Event on the ShiftPolicy that names it).
	NotificationSinkFailing = "NotificationSinkFailing"
	// RoutesWritten: every VirtualService holds the weight sluice wrote (the RoutesWritten condition).
	RoutesWritten = "RoutesWritten"
	// StatsAvailable: the canary's stats are being read (the Observable condition).
	StatsAvailable = "StatsAvailable"
	// StatsUnavailable: no usable stats for the canary from any endpoint.
	StatsUnavailable = "StatsUnavailable"
	// Propagating: the callers' proxies have not applied the last weight written yet.
	Propagating = "Propagating"
	// Applied: every caller's proxy routes with the last weight written.
	Applied = "Applied"
	// DataPlaneUnconfirmed: the callers did not apply the last weight within the data-plane timeout.
	DataPlaneUnconfirmed = "DataPlaneUnconfirmed"
)
