package analysis

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

// ResourceLimits say when the canary's memory or CPU is too far above stable's. Each
// check is off until enabled (guard.resources.memory, guard.resources.cpu).
type ResourceLimits struct {
	Memory MemoryLimits
	CPU    CPULimits
	// Interval is how often the usage is sampled; a latest sample older than
	// StaleIntervals × Interval is no data.
	Interval time.Duration
}

// MemoryLimits: the canary's per-pod memory median above stable's per-pod median ×
// Factor and above FloorBytes, in Samples consecutive samples, trips.
type MemoryLimits struct {
	Enabled    bool
	Factor     float64
	FloorBytes float64
	Samples    int
}

// CPULimits: the canary's CPU per request above stable's × Factor, in Samples
// consecutive samples, trips.
type CPULimits struct {
	Enabled bool
	Factor  float64
	Samples int
}

// On reports whether any resource check is enabled.
func (l ResourceLimits) On() bool { return l.Memory.Enabled || l.CPU.Enabled }

// StaleIntervals is how many intervals old a signal's latest result may be before it is
// no data (its runner is stuck or its source hangs).
const StaleIntervals = 3

// PodUsage is one pod's memory and CPU in one sample (summed over its containers).
type PodUsage struct {
	Name        string
	MemoryBytes float64
	CPUCores    float64
}

// ResourceSample is one reading of both subsets' pods. Err says why it has no data.
type ResourceSample struct {
	At             time.Time
	Canary, Stable []PodUsage
	Err            string
}

// HasData reports whether the sample has both subsets' usage.
func (s ResourceSample) HasData() bool {
	return s.Err == "" && len(s.Canary) > 0 && len(s.Stable) > 0
}

// ResourceState is what the sampler has seen of a rollout: the latest samples with data
// (newest last, as many as the checks need), the latest sample of all and when data was
// last had.
type ResourceState struct {
	Recent     []ResourceSample
	Latest     ResourceSample
	LastDataAt time.Time
}

// memoryCheck trips when the canary's memory per pod (the median over its pods) is above
// stable's per-pod median × Factor and above the floor, in each of the last Samples
// samples with data. Samples without data neither count nor break the streak; too few
// samples is no data: hold.
func memoryCheck(in Input) (Decision, bool) {
	lim := in.Thresholds.Resources.Memory
	recent := lastN(in.Resources.Recent, lim.Samples)
	if !lim.Enabled || recent == nil {
		return Decision{}, false
	}
	var c, s, limit float64
	for _, smp := range recent {
		c, s = median(smp.Canary, memoryOf), median(smp.Stable, memoryOf)
		limit = s * lim.Factor
		if s <= 0 || c <= limit || c <= lim.FloorBytes {
			return Decision{}, false
		}
	}
	latest := recent[len(recent)-1]
	return Decision{Action: failureAction(in.Thresholds.OnFailure), Reason: reason.CanaryMemorySpike,
		Message: fmt.Sprintf("canary memory per pod %s (median of %d: %s) vs stable %s (median of %d) × %g = %s, above the %s floor, in %d consecutive samples",
			mib(c), len(latest.Canary), podList(latest.Canary, func(u PodUsage) string { return mib(u.MemoryBytes) }),
			mib(s), len(latest.Stable), lim.Factor, mib(limit), mib(lim.FloorBytes), len(recent))}, true
}

// cpuCheck trips when the canary's CPU per request (its pods' CPU over its request rate
// in the window) is above stable's × Factor in each of the last Samples samples. Each
// sample's CPU is set against the window's request rates; without MinRequests on both
// sides, or without stable CPU, there is nothing to compare: hold.
func cpuCheck(in Input) (Decision, bool) {
	lim, th := in.Thresholds.Resources.CPU, in.Thresholds
	recent := lastN(in.Resources.Recent, lim.Samples)
	cr, sr := rate(in.Canary.Requests, in.Canary.Span), rate(in.Stable.Requests, in.Stable.Span)
	enough := func(n uint64) bool { return n > 0 && n >= uint64(max(th.MinRequests, 1)) }
	if !lim.Enabled || recent == nil || !enough(in.Canary.Requests) || !enough(in.Stable.Requests) || cr <= 0 || sr <= 0 {
		return Decision{}, false
	}
	var cc, sc, cper, sper float64
	for _, smp := range recent {
		cc, sc = total(smp.Canary, cpuOf), total(smp.Stable, cpuOf)
		cper, sper = cc/cr, sc/sr
		if sc <= 0 || cper <= sper*lim.Factor {
			return Decision{}, false
		}
	}
	return Decision{Action: failureAction(th.OnFailure), Reason: reason.CanaryCPUSpike,
		Message: fmt.Sprintf("canary CPU per request %s (%.3f cores over %.1f req/s) vs stable %s (%.3f cores over %.1f req/s) × %g = %s, in %d consecutive samples",
			cpuTime(cper), cc, cr, cpuTime(sper), sc, sr, lim.Factor, cpuTime(sper*lim.Factor), len(recent))}, true
}

// resourcesNoData explains why the resource checks have no current data, or returns "".
func resourcesNoData(in Input) string {
	lim := in.Thresholds.Resources
	if !lim.On() {
		return ""
	}
	l := in.Resources.Latest
	switch {
	case l.At.IsZero():
		return "no resource usage sampled yet"
	case in.Now.Sub(l.At) > StaleIntervals*lim.Interval:
		return fmt.Sprintf("resource usage last sampled %s ago", dur(in.Now.Sub(l.At)))
	case l.Err != "":
		return "resource usage has no data: " + l.Err
	case !l.HasData():
		return fmt.Sprintf("resource usage has no data: %d canary and %d stable pods sampled", len(l.Canary), len(l.Stable))
	}
	return ""
}

// lastN returns the last n samples, or nil when there are fewer.
func lastN(s []ResourceSample, n int) []ResourceSample {
	n = max(n, 1)
	if len(s) < n {
		return nil
	}
	return s[len(s)-n:]
}

func memoryOf(u PodUsage) float64 { return u.MemoryBytes }
func cpuOf(u PodUsage) float64    { return u.CPUCores }

// median is the median of f over pods (the mean of the middle two for an even count).
func median(pods []PodUsage, f func(PodUsage) float64) float64 {
	if len(pods) == 0 {
		return 0
	}
	v := make([]float64, len(pods))
	for i, p := range pods {
		v[i] = f(p)
	}
	slices.Sort(v)
	m := len(v) / 2
	if len(v)%2 == 1 {
		return v[m]
	}
	return (v[m-1] + v[m]) / 2
}

func total(pods []PodUsage, f func(PodUsage) float64) float64 {
	var t float64
	for _, p := range pods {
		t += f(p)
	}
	return t
}

// rate is requests per second over span; 0 without a span.
func rate(requests uint64, span time.Duration) float64 {
	if span <= 0 {
		return 0
	}
	return float64(requests) / span.Seconds()
}

// mib formats bytes in MiB.
func mib(b float64) string { return fmt.Sprintf("%.1fMi", b/(1<<20)) }

// cpuTime formats CPU seconds per request in milliseconds, three significant digits.
func cpuTime(sec float64) string { return fmt.Sprintf("%.3gms", sec*1000) }

// podList names each pod with its value, at most 5.
func podList(pods []PodUsage, val func(PodUsage) string) string {
	parts := make([]string, 0, min(len(pods), 5))
	for i, p := range pods {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(pods)-5))
			break
		}
		parts = append(parts, p.Name+"="+val(p))
	}
	return strings.Join(parts, ", ")
}
