package main

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestParseProc(t *testing.T) {
	// A real /proc/<pid>/stat line shape, with a space and parentheses in comm.
	stat := []byte("4242 (kube apiserver (x)) S 17 4242 17 0 -1 4194560 100 0 0 0 1234 566 0 0 20 0 12 0 300 1000 200 18446744073709551615")
	cpu, err := parseStatCPU(stat)
	if err != nil || math.Abs(cpu-18.0) > 1e-9 {
		t.Fatalf("CPU %v, %v; want 18 s (1234+566 ticks)", cpu, err)
	}
	comm, f, err := statFields(stat)
	if err != nil || comm != "kube apiserver (x)" || f[1] != "17" {
		t.Fatalf("comm %q ppid %q, %v", comm, f[1], err)
	}
	tests := map[string]struct {
		status string
		want   uint64
		err    bool
	}{
		"present":   {status: "Name:\tsluice\nVmPeak:\t  900 kB\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n", want: 2 << 20},
		"missing":   {status: "Name:\tsluice\n", err: true},
		"malformed": {status: "VmHWM:\t 12 MB\n", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseStatusKB([]byte(tc.status), "VmHWM")
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("got %d, %v; want %d (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
	if _, err := parseStatCPU([]byte("no parentheses")); err == nil {
		t.Fatal("a malformed stat line parsed")
	}
}

func TestHistogramQuantile(t *testing.T) {
	page := []byte(`# TYPE lag histogram
lag_bucket{le="0.001"} 10
lag_bucket{le="0.002"} 20
lag_bucket{le="0.004"} 20
lag_bucket{le="+Inf"} 30
lag_sum 1
lag_count 30
`)
	fams, err := families(page)
	if err != nil {
		t.Fatal(err)
	}
	earlier := hist{Upper: []float64{0.001, 0.002, 0.004, math.Inf(1)}, Counts: []float64{10, 10, 10, 10}, Count: 10, Sum: 0.01}
	h := histogram(fams, "lag", nil).minus(earlier)
	tests := map[string]struct {
		q     float64
		want  float64
		above bool
	}{
		"p50 in the second bucket": {q: 0.5, want: 0.002},
		"p25 interpolated":         {q: 0.25, want: 0.0015},
		"p99 above the top bucket": {q: 0.99, want: 0.004, above: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, above := h.quantile(tc.q)
			if math.Abs(got-tc.want) > 1e-12 || above != tc.above {
				t.Fatalf("quantile(%v) = %v (above %v), want %v (above %v); hist %+v", tc.q, got, above, tc.want, tc.above, h)
			}
		})
	}
	if h.Count != 20 || math.Abs(h.mean()-0.99/20) > 1e-12 {
		t.Fatalf("count %v mean %v", h.Count, h.mean())
	}
}

func TestParseNs(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []int
		err  bool
	}{
		"list":  {in: "10, 100,1000", want: []int{10, 100, 1000}},
		"zero":  {in: "0", err: true},
		"words": {in: "ten", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseNs(tc.in)
			if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
				t.Fatalf("parseNs(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

// The report puts the Ns side by side and judges the goals on the largest.
func TestReport(t *testing.T) {
	small := point{N: 10, Callers: 3, TicksPerRollout: 2, TickLagP99Ms: 20, SluiceCores: 0.1, SluicePeakMiB: 60,
		ScrapesPerS: 60, APIPerS: map[string]float64{"PUT trafficshifts/status": 4, "GET trafficshifts": 20, "WATCH pods": 1},
		FaultToZeroMs: []float64{300, 400, 500}, Phases: map[string]int{"Progressing": 10}}
	big := point{N: 1000, Callers: 3, TicksPerRollout: 0.2, TickLagP99Ms: 8192, TickLagAbove: true, SluiceCores: 1.5, SluicePeakMiB: 300,
		ScrapesPerS: 600, APIPerS: map[string]float64{"PUT trafficshifts/status": 40}, FaultToZeroMs: []float64{900, 5000},
		Phases: map[string]int{"Progressing": 990, "Paused": 10}}
	var r results
	r.merge(big)
	r.merge(small)
	r.merge(small) // the same N again replaces it
	page := report(r, []byte("hand-written analysis"))
	if err := write(t.TempDir(), r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| active rollouts | 10 | 1000 |",
		"| ticks per active rollout per s (target 2.0) | 2.00 | 0.20 |",
		"| active rollouts ticking (phases at the window's end) | 10 (10 Progressing) | 1000 (10 Paused, 990 Progressing) |",
		"| tick lag p50 / p99 (goal p99 ≤ 250 ms) | 0.0 ms / 20 ms | 0.0 ms / > 8.19 s |",
		"| cacheable API reads per tick (goal 0) | 1.00 | 0.00 |",
		"| status writes per active rollout per 5 s (goal ≤ 1) | 2.00 | 0.20 |",
		"| scrapes per caller pod per 500 ms (goal 1) | 10.0 | 100.0 |",
		"- tick lag p99 ≤ 250 ms: > 8.19 s — **not met**",
		"- controller < 512 MiB: 300 MiB peak — **met**",
		"- fault → weight 0 p99 ≤ 1 s: 5.00 s over 2 runs — **not met**",
		"| sluice CPU | ×15.0 |",
		"| GET trafficshifts | 20.00 | 0.00 |",
		"hand-written analysis",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "WATCH pods") {
		t.Error("watches are long-lived requests, not a rate")
	}
}
