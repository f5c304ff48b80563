package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux).
const clockTicks = 100

// procSample is a process's CPU time so far (seconds) and its peak resident set (bytes).
type procSample struct {
	CPUSeconds float64
	PeakRSS    uint64
}

// readProc reads pid's CPU time from /proc/<pid>/stat and VmHWM from /proc/<pid>/status.
func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	hwm, err := parseStatusKB(status, "VmHWM")
	if err != nil {
		return procSample{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return procSample{CPUSeconds: cpu, PeakRSS: hwm}, nil
}

// statFields are /proc/<pid>/stat's fields after "(comm)": state is field 3 of the
// whole line, so utime (14) and stime (15) are at 11 and 12 here, ppid (4) at 1.
func statFields(stat []byte) (comm string, rest []string, err error) {
	open, end := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return "", nil, errors.New("malformed /proc stat line")
	}
	rest = strings.Fields(string(stat[end+1:]))
	if len(rest) < 13 {
		return "", nil, errors.New("short /proc stat line")
	}
	return string(stat[open+1 : end]), rest, nil
}

// parseStatCPU is utime + stime in seconds.
func parseStatCPU(stat []byte) (float64, error) {
	_, f, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("CPU times in /proc stat: %w", err)
	}
	return float64(u+s) / clockTicks, nil
}

// parseStatusKB reads a "Key:   N kB" line of /proc/<pid>/status, in bytes.
func parseStatusKB(status []byte, key string) (uint64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		v, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("malformed %s line %q", key, line)
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		return kb * 1024, err
	}
	return 0, fmt.Errorf("no %s in /proc status", key)
}

// childPID finds the child of this process whose command is comm (the API server and
// etcd that envtest started).
func childPID(comm string) (int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, err
	}
	me := strconv.Itoa(os.Getpid())
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		c, f, err := statFields(stat)
		if err == nil && c == comm && f[1] == me {
			return strconv.Atoi(filepath.Base(d))
		}
	}
	return 0, fmt.Errorf("no child process %q", comm)
}

// raiseNoFile lifts the soft open-files limit to the hard one: thousands of stand-in
// listeners and the controller's connections to them.
func raiseNoFile() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = rl.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// families parses a Prometheus text page.
func families(page []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(bytes.NewReader(page))
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, p := range m.GetLabel() {
		out[p.GetName()] = p.GetValue()
	}
	return out
}

// apiRequests sums the API server's apiserver_request_total by "VERB resource[/sub]".
func apiRequests(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams["apiserver_request_total"].GetMetric() {
		l := labels(m)
		k := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			k += "/" + l["subresource"]
		}
		out[k] += m.GetCounter().GetValue()
	}
	return out
}

// hist is a cumulative histogram: bucket upper bounds (the last +Inf), counts, sum.
type hist struct {
	Upper  []float64
	Counts []float64
	Count  float64
	Sum    float64
}

// histogram sums the series of a histogram family whose labels include match.
func histogram(fams map[string]*dto.MetricFamily, name string, match map[string]string) hist {
	var h hist
	for _, m := range fams[name].GetMetric() {
		l := labels(m)
		ok := true
		for k, v := range match {
			ok = ok && l[k] == v
		}
		if !ok || m.GetHistogram() == nil {
			continue
		}
		mh := m.GetHistogram()
		if h.Upper == nil {
			for _, b := range mh.GetBucket() {
				h.Upper = append(h.Upper, b.GetUpperBound())
			}
			h.Upper = append(h.Upper, math.Inf(1))
			h.Counts = make([]float64, len(h.Upper))
		}
		for i, b := range mh.GetBucket() {
			h.Counts[i] += float64(b.GetCumulativeCount())
		}
		h.Counts[len(h.Counts)-1] += float64(mh.GetSampleCount())
		h.Count += float64(mh.GetSampleCount())
		h.Sum += mh.GetSampleSum()
	}
	return h
}

// minus is h's observations since earlier (same buckets).
func (h hist) minus(earlier hist) hist {
	out := hist{Upper: h.Upper, Counts: make([]float64, len(h.Counts)), Count: h.Count - earlier.Count, Sum: h.Sum - earlier.Sum}
	for i := range h.Counts {
		out.Counts[i] = h.Counts[i]
		if i < len(earlier.Counts) {
			out.Counts[i] -= earlier.Counts[i]
		}
	}
	return out
}

// quantile estimates the q-quantile as Prometheus' histogram_quantile does: linear
// within the bucket that holds it. above is true when it lies in the +Inf bucket; the
// value is then the highest finite bound.
func (h hist) quantile(q float64) (v float64, above bool) {
	if h.Count == 0 || len(h.Upper) < 2 {
		return 0, false
	}
	rank := q * h.Count
	lower, below := 0.0, 0.0
	for i, c := range h.Counts {
		if c >= rank {
			if math.IsInf(h.Upper[i], 1) {
				return h.Upper[i-1], true
			}
			if c == below {
				return h.Upper[i], false
			}
			return lower + (h.Upper[i]-lower)*(rank-below)/(c-below), false
		}
		lower, below = h.Upper[i], c
	}
	return h.Upper[len(h.Upper)-2], true
}

// mean is the average observation.
func (h hist) mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return h.Sum / h.Count
}
