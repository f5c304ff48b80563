package analysis

import (
	"time"
)

// Action is what a Decision asks the controller to do.
type Action string

const (
	// Hold keeps the current weight.
	Hold Action = "Hold"
	// Advance moves to the next step's weight.
	Advance Action = "Advance"
	// Promote sends all traffic to the canary and ends the rollout.
	Promote Action = "Promote"
	// Pause holds the weight until an operator acts.
	Pause Action = "Pause"
	// Rollback sets the canary weight to 0 and ends the rollout.
	Rollback Action = "Rollback"
)

// OnFailure is the action a failed guard or unobservable canary leads to.
type OnFailure string

const (
	// FailRollback rolls the canary back.
	FailRollback OnFailure = "Rollback"
	// FailPause pauses the rollout.
	FailPause OnFailure = "Pause"
)

// Thresholds are the guard's limits, from the ShiftPolicy and per-Service overrides.
type Thresholds struct {
	// MaxErrorRate is the absolute canary error-rate limit, 0–1.
	MaxErrorRate float64
	// MaxErrorRateIncrease is the margin over stable's rate that is tolerated, 0–1; 0 (the
	// default) trips on any significant increase.
	MaxErrorRateIncrease float64
	// MaxLatencyP99 is the absolute p99 limit; 0 disables it. It is checked whether or not
	// MaxLatency is set.
	MaxLatencyP99 time.Duration
	// MaxLatency is the absolute limit at LatencyQuantile (guard.maxLatency,
	// sluice.dev/max-latency); 0 disables it. It is checked besides MaxLatencyP99, not
	// instead of it.
	MaxLatency time.Duration
	// LatencyQuantile is the quantile MaxLatency and LatencyFactor apply to, in
	// [MinLatencyQuantile, MaxLatencyQuantile]; 0 (or any value outside) means
	// DefaultLatencyQuantile. Quantile() reads it.
	LatencyQuantile float64
	// LatencyFactor trips when the canary's latency at Quantile() > stable's × factor; 0
	// disables it.
	LatencyFactor float64
	// Window is the sliding window length.
	Window time.Duration
	// MinRequests is the number of canary requests in the window before the guard judges.
	MinRequests int64
	// Confidence is the confidence level of the canary-vs-stable test, e.g. 0.999.
	Confidence float64
	// OnFailure is what a trip does.
	OnFailure OnFailure
	// SilenceTimeout is how long the canary may get no requests while it should.
	SilenceTimeout time.Duration
	// UnobservableTimeout is how long the canary may give no usable stats.
	UnobservableTimeout time.Duration
	// OnUnobservable is what an unobservable canary leads to.
	OnUnobservable OnFailure
	// PodHealth are the limits of the pod-health check.
	PodHealth PodHealthLimits
	// Resources are the limits of the canary's memory and CPU against stable's.
	Resources ResourceLimits
}

// PodHealthLimits say when the canary's pods are unhealthy.
type PodHealthLimits struct {
	// Disabled turns the check off.
	Disabled bool
	// MaxNotReadyFraction of the canary's pods may be NotReady for longer than NotReadyFor.
	MaxNotReadyFraction float64
	NotReadyFor         time.Duration
}

// The latency quantiles a guard may use.
const (
	// DefaultLatencyQuantile is the quantile of MaxLatencyP99, and of MaxLatency and
	// LatencyFactor when LatencyQuantile is not set.
	DefaultLatencyQuantile = 0.99
	// MinLatencyQuantile and MaxLatencyQuantile bound LatencyQuantile: below the median a
	// latency limit says little, and beyond 0.999 a window rarely holds the thousands of
	// samples a quantile needs.
	MinLatencyQuantile = 0.5
	MaxLatencyQuantile = 0.999
)

// Quantile is the quantile MaxLatency and LatencyFactor apply to: LatencyQuantile when it
// is within [MinLatencyQuantile, MaxLatencyQuantile], else DefaultLatencyQuantile.
func (th Thresholds) Quantile() float64 {
	if q := th.LatencyQuantile; q >= MinLatencyQuantile && q <= MaxLatencyQuantile {
		return q
	}
	return DefaultLatencyQuantile
}

// DefaultThresholds are the built-in guard limits used when no ShiftPolicy sets them.
func DefaultThresholds() Thresholds {
	return Thresholds{
		MaxErrorRate:         0.01,
		MaxErrorRateIncrease: 0,
		MaxLatencyP99:        0,
		MaxLatency:           0,
		LatencyQuantile:      DefaultLatencyQuantile,
		LatencyFactor:        0,
		Window:               10 * time.Second,
		MinRequests:          20,
		Confidence:           0.999,
		OnFailure:            FailRollback,
		SilenceTimeout:       30 * time.Second,
		UnobservableTimeout:  30 * time.Second,
		OnUnobservable:       FailPause,
		PodHealth:            PodHealthLimits{MaxNotReadyFraction: 0.5, NotReadyFor: 30 * time.Second},
		// Off until a policy enables them; these are the values they then start from.
		Resources: ResourceLimits{
			Interval: 5 * time.Second,
			Memory:   MemoryLimits{Factor: 1.5, FloorBytes: 64 << 20, Samples: 3},
			CPU:      CPULimits{Factor: 1.5, Samples: 3},
		},
	}
}
