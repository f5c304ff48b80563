package analysis

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

const mi = 1 << 20

// pods gives one PodUsage per memory value (MiB) with cpu cores each.
func pods(prefix string, cpu float64, mem ...float64) []PodUsage {
	out := make([]PodUsage, len(mem))
	for i, m := range mem {
		out[i] = PodUsage{Name: prefix + string(rune('a'+i)), MemoryBytes: m * mi, CPUCores: cpu}
	}
	return out
}

// usageSamples repeats one reading n times, a second apart, ending at now.
func usageSamples(now time.Time, n int, canary, stable []PodUsage) ResourceState {
	var st ResourceState
	for i := range n {
		s := ResourceSample{At: now.Add(time.Duration(i-n+1) * time.Second), Canary: canary, Stable: stable}
		st.Recent = append(st.Recent, s)
		st.Latest, st.LastDataAt = s, s.At
	}
	return st
}

func resourceInput(mem, cpu bool) Input {
	in := base()
	in.Thresholds.Resources = ResourceLimits{
		Memory:   MemoryLimits{Enabled: mem, Factor: 1.5, FloorBytes: 64 * mi, Samples: 3},
		CPU:      CPULimits{Enabled: cpu, Factor: 1.5, Samples: 3},
		Interval: time.Second,
	}
	return in
}

func TestMemorySpike(t *testing.T) {
	tests := map[string]struct {
		state ResourceState
		off   bool
		trip  bool
		inMsg []string
	}{
		"canary at stable's level": {state: usageSamples(t0, 3, pods("c", 0, 200, 210), pods("s", 0, 200, 200))},
		"just at factor × stable":  {state: usageSamples(t0, 3, pods("c", 0, 300, 300), pods("s", 0, 200, 200))},
		"above factor × stable in 3 samples": {state: usageSamples(t0, 3, pods("c", 0, 310, 330), pods("s", 0, 200, 200)), trip: true,
			inMsg: []string{"canary memory per pod 320.0Mi", "stable 200.0Mi", "× 1.5 = 300.0Mi", "ca=310.0Mi", "64.0Mi floor", "3 consecutive"}},
		"only 2 samples yet":           {state: usageSamples(t0, 2, pods("c", 0, 310, 330), pods("s", 0, 200, 200))},
		"above factor but under floor": {state: usageSamples(t0, 3, pods("c", 0, 40, 40), pods("s", 0, 10, 10))},
		"one pod leaks, median holds":  {state: usageSamples(t0, 3, pods("c", 0, 900, 200, 200), pods("s", 0, 200, 200))},
		"no stable memory is no data":  {state: usageSamples(t0, 3, pods("c", 0, 500), pods("s", 0, 0))},
		"disabled":                     {state: usageSamples(t0, 3, pods("c", 0, 900), pods("s", 0, 200)), off: true},
		"a dip in the last sample breaks the streak": {state: func() ResourceState {
			st := usageSamples(t0, 3, pods("c", 0, 500), pods("s", 0, 200))
			st.Recent[2].Canary = pods("c", 0, 250)
			return st
		}()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := resourceInput(!tc.off, false)
			in.Now, in.Resources = t0, tc.state
			in.StepStartedAt = t0.Add(-5 * time.Second)
			d := Decide(in)
			if tripped := d.Reason == reason.CanaryMemorySpike; tripped != tc.trip {
				t.Fatalf("decision %+v, want trip=%v", d, tc.trip)
			}
			if tc.trip && (d.Action != Rollback || d.Check != "memory") {
				t.Fatalf("decision %+v, want a Rollback by the memory check", d)
			}
			for _, frag := range tc.inMsg {
				if !strings.Contains(d.Message, frag) {
					t.Errorf("message %q lacks %q", d.Message, frag)
				}
			}
		})
	}
}

func TestCPUSpike(t *testing.T) {
	// The base input's windows: canary 1000 and stable 3000 requests over 10 s, so 100
	// and 300 req/s.
	tests := map[string]struct {
		canaryCPU, stableCPU float64
		canaryReq            uint64
		trip                 bool
		inMsg                []string
	}{
		"same CPU per request":         {canaryCPU: 0.1, stableCPU: 0.3},
		"1.5 × is not above 1.5 ×":     {canaryCPU: 0.15, stableCPU: 0.3},
		"twice the CPU per request":    {canaryCPU: 0.2, stableCPU: 0.3, trip: true, inMsg: []string{"canary CPU per request 2ms", "0.200 cores over 100.0 req/s", "stable 1ms", "× 1.5 = 1.5ms"}},
		"too few canary requests":      {canaryCPU: 0.2, stableCPU: 0.3, canaryReq: 10},
		"no stable CPU is no data":     {canaryCPU: 0.2, stableCPU: 0},
		"more CPU but as much per req": {canaryCPU: 0.3, stableCPU: 0.9},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := resourceInput(false, true)
			in.StepStartedAt = in.Now.Add(-5 * time.Second)
			if tc.canaryReq > 0 {
				in.Canary = stats(in.Now, tc.canaryReq, 0)
			}
			// Split each subset's CPU over two pods.
			in.Resources = usageSamples(in.Now, 3, pods("c", tc.canaryCPU/2, 100, 100), pods("s", tc.stableCPU/2, 100, 100))
			d := Decide(in)
			if tripped := d.Reason == reason.CanaryCPUSpike; tripped != tc.trip {
				t.Fatalf("decision %+v, want trip=%v", d, tc.trip)
			}
			for _, frag := range tc.inMsg {
				if !strings.Contains(d.Message, frag) {
					t.Errorf("message %q lacks %q", d.Message, frag)
				}
			}
		})
	}
}

// Resource checks on and no current sample: the step holds (NoData); after the
// unobservable timeout the policy's onUnobservable applies.
func TestResourcesNoData(t *testing.T) {
	tests := map[string]struct {
		state      ResourceState
		now        time.Duration // after t0
		started    time.Duration // the rollout's start, after t0
		wantReason string
		wantAction Action
		wantInMsg  string
	}{
		"never sampled":   {now: time.Minute, started: 50 * time.Second, wantReason: reason.NoData, wantAction: Hold, wantInMsg: "no resource usage sampled yet"},
		"latest is stale": {state: usageSamples(t0.Add(50*time.Second), 3, pods("c", 0, 100), pods("s", 0, 100)), now: time.Minute, wantReason: reason.NoData, wantAction: Hold, wantInMsg: "last sampled 10s ago"},
		"latest failed": {state: func() ResourceState {
			st := usageSamples(t0.Add(59*time.Second), 3, pods("c", 0, 100), pods("s", 0, 100))
			st.Latest = ResourceSample{At: t0.Add(time.Minute), Err: "metrics API: 503"}
			return st
		}(), now: time.Minute, wantReason: reason.NoData, wantAction: Hold, wantInMsg: "metrics API: 503"},
		"fresh data passes the step":            {state: usageSamples(t0.Add(time.Minute), 3, pods("c", 0, 100), pods("s", 0, 100)), now: time.Minute, wantReason: reason.StepComplete, wantAction: Advance},
		"no data past the unobservable timeout": {now: 2 * time.Minute, wantReason: reason.Unobservable, wantAction: Pause, wantInMsg: "none for 2m0s"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := resourceInput(true, false)
			in.Now = t0.Add(tc.now)
			in.Canary, in.Stable = stats(in.Now, 1000, 2), stats(in.Now, 3000, 9)
			in.RolloutStartedAt, in.Resources = t0.Add(tc.started), tc.state
			d := Decide(in)
			if d.Reason != tc.wantReason || d.Action != tc.wantAction || !strings.Contains(d.Message, tc.wantInMsg) {
				t.Fatalf("decision %+v, want %s %s with %q", d, tc.wantAction, tc.wantReason, tc.wantInMsg)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := map[string]struct {
		mem  []float64
		want float64
	}{
		"none": {want: 0},
		"one":  {mem: []float64{3}, want: 3},
		"odd":  {mem: []float64{9, 1, 5}, want: 5},
		"even": {mem: []float64{4, 1, 2, 8}, want: 3},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := median(pods("p", 0, tc.mem...), memoryOf); got != tc.want*mi {
				t.Fatalf("median %v = %v, want %v", tc.mem, got/mi, tc.want)
			}
		})
	}
}
