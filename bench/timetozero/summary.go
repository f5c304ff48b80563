package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
)

// results is results.json.
type results struct {
	CallRate      float64     `json:"callRate"`
	Runs          int         `json:"runsPerScenarioAndStep"`
	ControlRuns   int         `json:"controlRuns"`
	ControlObsMs  float64     `json:"controlObservationMs"`
	HealthyP99Ms  float64     `json:"healthyP99Ms"`
	MaxLatencyP99 string      `json:"maxLatencyP99"`
	Seed          uint64      `json:"seed"`
	Started       string      `json:"started"`
	WallSeconds   float64     `json:"wallSeconds"`
	Machine       string      `json:"machine"`
	Records       []runRecord `json:"runs"`
}

// dist is median, p99 (nearest rank) and max of a sample where nil is "beyond the cap".
type dist struct {
	n, censored  int
	med, p99, mx float64
}

func distOf(vals []*float64) dist {
	d := dist{n: len(vals)}
	xs := make([]float64, 0, len(vals))
	for _, v := range vals {
		if v == nil {
			d.censored++
			xs = append(xs, math.Inf(1))
			continue
		}
		xs = append(xs, *v)
	}
	if len(xs) == 0 {
		return d
	}
	slices.Sort(xs)
	rank := func(q float64) float64 { return xs[max(int(math.Ceil(q*float64(len(xs))))-1, 0)] }
	d.med, d.p99, d.mx = rank(0.5), rank(0.99), xs[len(xs)-1]
	return d
}

// cell renders a duration in ms as seconds, or "> 30 s" when censored.
func cell(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "> 30 s"
	case math.Abs(v) < 1000:
		return fmt.Sprintf("%.0f ms", v)
	}
	return fmt.Sprintf("%.2f s", v/1000)
}

func (d dist) String() string {
	if d.n == 0 {
		return "–"
	}
	return fmt.Sprintf("%s / %s / %s", cell(d.med), cell(d.p99), cell(d.mx))
}

// segment is one column of the sluice table.
type segment struct {
	name string
	get  func(r runRecord) *float64
}

func diff(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	v := *a - *b
	return &v
}

var sluiceSegments = []segment{
	{"fault → controller's write returned", func(r runRecord) *float64 { return r.ControllerMs }},
	{"fault → VS written (watch event)", func(r runRecord) *float64 { return r.WrittenMs }},
	{"VS written → istiod push at caller", func(r runRecord) *float64 { return diff(r.PushedMs, r.WrittenMs) }},
	{"push → client applied (ACK)", func(r runRecord) *float64 { return diff(r.AppliedMs, r.PushedMs) }},
	{"fault → client applied", func(r runRecord) *float64 { return r.AppliedMs }},
	{"fault → last canary RPC", func(r runRecord) *float64 { return r.LastCanaryMs }},
}

func faultyRuns(rs []runRecord, scenario string, w int32) []runRecord {
	var out []runRecord
	for _, r := range rs {
		if r.Scenario == scenario && (w == 0 || r.Weight == w) {
			out = append(out, r)
		}
	}
	return out
}

func collect(rs []runRecord, get func(runRecord) *float64) []*float64 {
	out := make([]*float64, 0, len(rs))
	for _, r := range rs {
		out = append(out, get(r))
	}
	return out
}

// machine describes the host: CPUs, model, memory, load.
func machine() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("%s/%s, %d CPUs (GOMAXPROCS %d), %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version()))
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(l, "model name") {
				parts = append(parts, strings.TrimSpace(strings.SplitN(l, ":", 2)[1]))
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		parts = append(parts, strings.SplitN(string(data), "\n", 2)[0])
	}
	if out, err := exec.Command("uptime").Output(); err == nil {
		parts = append(parts, "at start: "+strings.TrimSpace(string(out)))
	}
	return strings.Join(parts, "; ")
}
