package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FailureAction says what sluice does when the guard trips or the canary cannot be observed.
// +kubebuilder:validation:Enum=Rollback;Pause
type FailureAction string

const (
	// FailureRollback sets the canary weight to 0 and ends the rollout as RolledBack.
	FailureRollback FailureAction = "Rollback"
	// FailurePause holds the current weight and waits for an operator.
	FailurePause FailureAction = "Pause"
)

// AlertAction says what a firing Alertmanager alert about a Service does to its rollout.
// +kubebuilder:validation:Enum=Rollback;Pause;Ignore
type AlertAction string

const (
	// AlertRollback sets the canary weight to 0 (the default).
	AlertRollback AlertAction = "Rollback"
	// AlertPause holds the weight and waits for an operator.
	AlertPause AlertAction = "Pause"
	// AlertIgnore records the alert and changes nothing.
	AlertIgnore AlertAction = "Ignore"
)

// SinkType is the wire format a notification sink speaks.
// +kubebuilder:validation:Enum=slack;wecom;feishu;dingtalk;cloudevents;webhook
type SinkType string

// Notification sink types.
const (
	SinkSlack       SinkType = "slack"
	SinkWeCom       SinkType = "wecom"
	SinkFeishu      SinkType = "feishu"
	SinkDingTalk    SinkType = "dingtalk"
	SinkCloudEvents SinkType = "cloudevents"
	SinkWebhook     SinkType = "webhook"
)

// NotifySink sends the record of each rollout transition somewhere people or tools read.
type NotifySink struct {
	// Name identifies the sink in metrics, logs and Events.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string   `json:"name"`
	Type SinkType `json:"type"`
	// Events are the transitions the sink receives (started, step-advanced, paused,
	// resumed, awaiting-approval, promoted, rolled-back, invalid); empty means all.
	// +optional
	// +kubebuilder:validation:items:Enum=started;step-advanced;paused;resumed;awaiting-approval;promoted;rolled-back;invalid
	Events []string `json:"events,omitempty"`
	// SecretRef names a Secret in sluice's own namespace holding the sink's `url` and,
	// for signed robots (Feishu, DingTalk), its `secret`; for a webhook or CloudEvents
	// sink an optional bearer `token`.
	// +kubebuilder:validation:MinLength=1
	SecretRef string `json:"secretRef"`
	// Template overrides the message text: a Go text/template over the rollout record.
	// +optional
	Template string `json:"template,omitempty"`
}

// StatsSource is where sluice reads per-subset request stats.
// +kubebuilder:validation:Enum=Envoy;Prometheus
type StatsSource string

const (
	// StatsSourceEnvoy reads the sidecars (or the callers named by sluice.dev/stats-from) directly.
	StatsSourceEnvoy StatsSource = "Envoy"
	// StatsSourcePrometheus queries Prometheus, for clusters where pods cannot be reached.
	StatsSourcePrometheus StatsSource = "Prometheus"
)

// Step is one stage of a rollout: the canary weight and what must hold before moving on.
type Step struct {
	// Approval holds the rollout at this step's weight after its dwell, in phase
	// AwaitingApproval, until sluice.dev/approve (or sluice.dev/promote) names the canary.
	// The guard keeps running meanwhile.
	// +optional
	Approval bool `json:"approval,omitempty"`
	// Weight is the canary's share of traffic in percent.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`
	// Dwell is the minimum time at this weight before advancing.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="dwell must not be negative"
	Dwell *metav1.Duration `json:"dwell,omitempty"`
	// MinRequests is the number of canary requests the step must see before advancing.
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinRequests *int32 `json:"minRequests,omitempty"`
}

// Guard holds the thresholds checked on every tick.
type Guard struct {
	// MaxErrorRate is the highest tolerated canary 5xx rate, 0–1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	MaxErrorRate *float64 `json:"maxErrorRate,omitempty"`
	// MaxErrorRateIncrease is how far, in absolute rate 0–1, the canary may exceed stable
	// before a significant difference counts as a trip.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	MaxErrorRateIncrease *float64 `json:"maxErrorRateIncrease,omitempty"`
	// MaxLatencyP99 is the highest tolerated canary p99 latency. It is checked whether or
	// not MaxLatency is set: with both, the canary must stay within each.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="maxLatencyP99 must be positive"
	MaxLatencyP99 *metav1.Duration `json:"maxLatencyP99,omitempty"`
	// MaxLatency is the highest tolerated canary latency at a quantile of the team's choice,
	// e.g. {quantile: 0.95, limit: 300ms} for p95. It is checked besides MaxLatencyP99, and
	// its quantile is also the one LatencyFactor compares; without it both use p99.
	// +optional
	MaxLatency *LatencyLimit `json:"maxLatency,omitempty"`
	// LatencyFactor trips the guard when the canary's latency exceeds stable's by this
	// factor (>1), both at MaxLatency's quantile when it is set, else at p99.
	// +optional
	// +kubebuilder:validation:Minimum=1
	LatencyFactor *float64 `json:"latencyFactor,omitempty"`
	// Window is the length of the sliding stats window the guard looks at.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="window must be positive"
	Window *metav1.Duration `json:"window,omitempty"`
	// MinRequests is the number of canary requests in the window needed before the guard judges.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinRequests *int32 `json:"minRequests,omitempty"`
	// Confidence is the confidence level of the canary-vs-stable test, e.g. 0.999.
	// +optional
	// +kubebuilder:validation:ExclusiveMinimum=true
	// +kubebuilder:validation:Minimum=0.5
	// +kubebuilder:validation:ExclusiveMaximum=true
	// +kubebuilder:validation:Maximum=1
	Confidence *float64 `json:"confidence,omitempty"`
	// PodHealth judges the canary's pods from their status (restarts, OOM kills, crash
	// loops, image pulls, readiness), compared with stable's.
	// +optional
	PodHealth *PodHealth `json:"podHealth,omitempty"`
	// Resources compares the canary's memory and CPU with stable's (off until memory or
	// cpu is set).
	// +optional
	Resources *Resources `json:"resources,omitempty"`
}

// ResourceSource is where sluice reads the pods' memory and CPU.
// +kubebuilder:validation:Enum=MetricsAPI;Prometheus
type ResourceSource string

const (
	// ResourceSourceMetricsAPI reads metrics.k8s.io/v1beta1 PodMetrics (metrics-server).
	ResourceSourceMetricsAPI ResourceSource = "MetricsAPI"
	// ResourceSourcePrometheus reads cAdvisor's container_memory_working_set_bytes and
	// container_cpu_usage_seconds_total from Prometheus (needs --prometheus-url).
	ResourceSourcePrometheus ResourceSource = "Prometheus"
)

// Resources are the limits of the canary's memory and CPU, compared with stable's pods.
// Each check is off until its field is set.
type Resources struct {
	// Source is where the usage comes from: MetricsAPI (default) or Prometheus.
	// +optional
	Source ResourceSource `json:"source,omitempty"`
	// Interval is how often the usage is sampled (default 5s, at least 1s). Sampling runs
	// beside the tick, never on its path.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="resources.interval must be at least 1s"
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Memory trips on canary memory per pod above stable's.
	// +optional
	Memory *MemoryLimit `json:"memory,omitempty"`
	// CPU trips on canary CPU per request above stable's.
	// +optional
	CPU *CPULimit `json:"cpu,omitempty"`
}

// MemoryLimit: the canary's per-pod memory (median over its pods) above stable's per-pod
// median × Factor and above Floor, in Samples consecutive samples, trips the guard.
type MemoryLimit struct {
	// Factor over stable's per-pod median (default 1.5, at least 1).
	// +optional
	// +kubebuilder:validation:Minimum=1
	Factor *float64 `json:"factor,omitempty"`
	// Floor is the memory per pod below which the canary never trips (default 64Mi).
	// +optional
	Floor *resource.Quantity `json:"floor,omitempty"`
	// Samples is how many consecutive samples must be over (default 3).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Samples *int32 `json:"samples,omitempty"`
}

// CPULimit: the canary's CPU per request (its pods' CPU over its request rate) above
// stable's × Factor, in Samples consecutive samples, trips the guard.
type CPULimit struct {
	// Factor over stable's CPU per request (default 1.5, at least 1).
	// +optional
	// +kubebuilder:validation:Minimum=1
	Factor *float64 `json:"factor,omitempty"`
	// Samples is how many consecutive samples must be over (default 3).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Samples *int32 `json:"samples,omitempty"`
}

// CheckOp says which side of the threshold fails.
// +kubebuilder:validation:Enum=max;min
type CheckOp string

const (
	// CheckMax fails when the value is above the threshold.
	CheckMax CheckOp = "max"
	// CheckMin fails when the value is below the threshold.
	CheckMin CheckOp = "min"
)

// CheckCompare says what value the threshold applies to.
// +kubebuilder:validation:Enum=none;ratio;difference
type CheckCompare string

const (
	// CompareNone: the canary's query result itself.
	CompareNone CheckCompare = "none"
	// CompareRatio: canary's result ÷ stable's ({{subset}} run for both).
	CompareRatio CheckCompare = "ratio"
	// CompareDifference: canary's result − stable's.
	CompareDifference CheckCompare = "difference"
)

// Check is a custom PromQL check of the canary, evaluated every Interval during the rollout.
// +kubebuilder:validation:XValidation:rule="!has(self.compare) || self.compare == 'none' || self.query.contains('{{subset}}')",message="a check that compares with stable needs {{subset}} in its query"
type Check struct {
	// Name identifies the check (in sluice.dev/checks, messages and status).
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// Query is PromQL returning one number (a scalar or a one-element vector). The
	// placeholders {{namespace}}, {{service}} and {{subset}} are replaced by the values,
	// escaped for a double-quoted PromQL string: write them inside "…".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	Query string `json:"query"`
	// Op is max (fails above Threshold) or min (fails below).
	Op CheckOp `json:"op"`
	// Threshold is the limit of the value.
	Threshold float64 `json:"threshold"`
	// Compare is none (the canary's result; default), ratio (canary ÷ stable) or
	// difference (canary − stable); ratio and difference need {{subset}} in the query.
	// +optional
	Compare CheckCompare `json:"compare,omitempty"`
	// Interval is how often the check runs (default 10s, at least 1s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="checks[].interval must be at least 1s"
	Interval *metav1.Duration `json:"interval,omitempty"`
	// FailureLimit is how many consecutive failing results trip the guard (default 1).
	// Results without data (empty, NaN, a query error) neither fail nor pass.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureLimit *int32 `json:"failureLimit,omitempty"`
}

// PodHealth are the limits of the canary pod-health check.
type PodHealth struct {
	// Disabled turns the check off (it is on by default).
	// +optional
	Disabled bool `json:"disabled,omitempty"`
	// MaxNotReadyFraction is the share of canary pods that may be NotReady for longer than
	// NotReadyFor (default 0.5) before the guard trips.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1
	MaxNotReadyFraction *float64 `json:"maxNotReadyFraction,omitempty"`
	// NotReadyFor is how long a pod must be NotReady to count (default 30s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="notReadyFor must be positive"
	NotReadyFor *metav1.Duration `json:"notReadyFor,omitempty"`
}

// LatencyLimit is a latency limit at one quantile of the canary's requests.
type LatencyLimit struct {
	// Quantile is the quantile the limit applies to, from 0.5 (the median) to 0.999
	// (p99.9): 0.95 for p95. The guard trips when significantly more than 1 − Quantile of
	// the canary's requests take longer than Limit.
	// +kubebuilder:validation:Minimum=0.5
	// +kubebuilder:validation:Maximum=0.999
	Quantile float64 `json:"quantile"`
	// Limit is the highest tolerated canary latency at Quantile.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="maxLatency.limit must be positive"
	Limit metav1.Duration `json:"limit"`
}

// ShiftPolicySpec is a step schedule plus the thresholds that guard it.
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(i, s, i == 0 || s.weight > self.steps[i-1].weight)",message="steps: weights must be strictly increasing"
type ShiftPolicySpec struct {
	// Steps are the canary weights in order; the last must be 100.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:XValidation:rule="self[size(self)-1].weight == 100",message="the last step's weight must be 100"
	Steps []Step `json:"steps,omitempty"`
	// DefaultDwell is the dwell of steps that set none.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="defaultDwell must be positive"
	DefaultDwell *metav1.Duration `json:"defaultDwell,omitempty"`
	// Interval is the tick: how often an active rollout is evaluated. For one interval
	// after a tick that saw fresh canary failures it could not judge yet, sluice
	// evaluates five times as often (never more often than every 50ms).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('50ms')",message="interval must be at least 50ms"
	Interval *metav1.Duration `json:"interval,omitempty"`
	// Guard holds the per-tick thresholds.
	// +optional
	Guard *Guard `json:"guard,omitempty"`
	// OnFailure is what a guard trip does: Rollback (default) or Pause.
	// +optional
	OnFailure FailureAction `json:"onFailure,omitempty"`
	// SilenceTimeout is how long the canary may receive no requests while it should.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="silenceTimeout must be positive"
	SilenceTimeout *metav1.Duration `json:"silenceTimeout,omitempty"`
	// UnobservableTimeout is how long the canary may give no usable stats before OnUnobservable applies.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="unobservableTimeout must be positive"
	UnobservableTimeout *metav1.Duration `json:"unobservableTimeout,omitempty"`
	// OnUnobservable is what happens when the canary stays unobservable: Pause (default) or Rollback.
	// +optional
	OnUnobservable FailureAction `json:"onUnobservable,omitempty"`
	// Notify lists where the record of each rollout transition goes, besides the log,
	// Events and the TrafficShift history.
	// +optional
	// +listType=map
	// +listMapKey=name
	Notify []NotifySink `json:"notify,omitempty"`
	// MinReadyPods is how many canary pods must be Ready (and every canary pod must be)
	// before the first step moves traffic (default 1); until then the phase is
	// WaitingForCanary.
	// +optional
	// +kubebuilder:validation:Minimum=1
	MinReadyPods *int32 `json:"minReadyPods,omitempty"`
	// ReadyTimeout is how long a rollout may wait for its canary pods (default 5m); then
	// OnNotReady applies: Pause (default) or Rollback.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="readyTimeout must be positive"
	ReadyTimeout *metav1.Duration `json:"readyTimeout,omitempty"`
	// +optional
	OnNotReady FailureAction `json:"onNotReady,omitempty"`
	// OnAlert is what a firing Alertmanager alert naming the Service does while its canary
	// carries traffic: Rollback (default), Pause or Ignore.
	// +optional
	OnAlert AlertAction `json:"onAlert,omitempty"`
	// StatsSource is where request stats come from: Envoy (default) or Prometheus (needs
	// the controller's --prometheus-url; slower, bounded by the scrape interval).
	// +optional
	StatsSource StatsSource `json:"statsSource,omitempty"`
	// Checks are custom PromQL checks of the canary (need --prometheus-url). Every
	// Service using the policy runs all of them, unless its sluice.dev/checks annotation
	// names the ones to run.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Checks []Check `json:"checks,omitempty"`
	// HistoryLimit is how many past rollouts a TrafficShift keeps.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=50
	HistoryLimit *int32 `json:"historyLimit,omitempty"`
}

// ShiftPolicy is a cluster-wide step schedule and set of guard thresholds.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=sp
// +kubebuilder:printcolumn:name="STEPS",type=string,JSONPath=`.spec.steps[*].weight`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ShiftPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ShiftPolicySpec `json:"spec,omitempty"`
}

// ShiftPolicyList is a list of ShiftPolicy.
// +kubebuilder:object:root=true
type ShiftPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ShiftPolicy `json:"items"`
}
