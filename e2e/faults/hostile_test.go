package faults

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// hostilePods is how many pods serve hostile stats at once, half in each subset.
const hostilePods = 50

// 50 stats endpoints that hang, answer garbage, truncate, stream without end or drip, in
// both subsets at once, beside the healthy stand-ins: the controller's memory stays
// bounded, the bad pods count as missing data (the status window's failedPods), the
// rollout neither moves nor rolls back on them, and ticks keep their interval (measured
// at a healthy probe pod: the time between its scrapes, minus the 500 ms interval).
func TestHostileStatsEndpoints(t *testing.T) {
	r := newRollout(t, "hostile", 200)
	r.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
		"sluice.dev/steps": "5:1s,25:5m,50,100", "sluice.dev/min-requests": "20"})
	r.WaitTS(30*time.Second, "step 2 (25 %)", scenario.WeightIs(25))

	n := nsCounter.Add(1)
	kinds := []hostility{hang, garbage, truncated, endless, drip}
	prober := startHostile(t, fmt.Sprintf("127.43.%d.1", n), probe)
	r.addHostilePod("probe", "v2", fmt.Sprintf("127.43.%d.1", n))
	for i := range hostilePods {
		ip, subset := fmt.Sprintf("127.43.%d.%d", n, i+2), []string{"v1", "v2"}[i%2]
		h := kinds[(i/2)%len(kinds)]
		startHostile(t, ip, h)
		r.addHostilePod(fmt.Sprintf("hostile-%s-%d", h, i), subset, ip)
	}
	added := time.Now()
	ctx, cancel := context.WithCancel(r.Ctx)
	peak := heapPeak(ctx)
	cpu0 := cpuTime(t)
	var failedSeen [2]int32
	for time.Since(added) < 20*time.Second {
		ts := r.TS()
		if ts == nil {
			continue
		}
		if ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 25 {
			t.Fatalf("the hostile endpoints moved the rollout: %s", scenario.StatusJSON(ts))
		}
		if w := ts.Status.Window; w != nil && w.Canary != nil && w.Stable != nil {
			failedSeen = [2]int32{max(failedSeen[0], w.Stable.FailedPods), max(failedSeen[1], w.Canary.FailedPods)}
		}
		time.Sleep(200 * time.Millisecond)
	}
	cpu := cpuTime(t) - cpu0
	cancel()
	heap := peak()
	if failedSeen != [2]int32{hostilePods / 2, hostilePods / 2} {
		t.Fatalf("status window failedPods (stable, canary) at most %v, want %d each", failedSeen, hostilePods/2)
	}
	lags := intervalLags(prober.hits(), added, 500*time.Millisecond)
	t.Logf("%d hostile endpoints for 20s: process CPU %.2f cores; Go heap in use peak %s; process VmHWM %s", hostilePods,
		cpu.Seconds()/time.Since(added).Seconds(), mib(heap), mib(uint64(vmHWM(t))))
	t.Logf("tick lag at the probe pod (interval − 500ms): n=%d p50=%s p99=%s; controller's sluice_tick_lag_seconds: %s",
		len(lags), quantile(lags, 0.5), quantile(lags, 0.99), tickLagSummary(t))
	if len(lags) < 20 {
		t.Fatalf("the probe pod was scraped %d times in 20s; ticks stalled", len(lags)+1)
	}
	if p50 := quantile(lags, 0.5); p50 > scrapeTimeout {
		t.Fatalf("median tick lag %s is more than the scrape timeout %s", p50, scrapeTimeout)
	}
	if hwm := vmHWM(t); hwm > 1<<30 {
		t.Fatalf("process peak RSS %s over 1 GiB", mib(uint64(hwm)))
	}
	r.checkInvariants(3)
}

// intervalLags are the times between consecutive hits after since, minus every.
func intervalLags(hits []time.Time, since time.Time, every time.Duration) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(hits); i++ {
		if hits[i-1].After(since) {
			out = append(out, max(hits[i].Sub(hits[i-1])-every, 0))
		}
	}
	return out
}

// tickLagSummary reads the controller's tick-lag histogram: its count and the upper
// bounds of the buckets holding the median and the 99th percentile.
func tickLagSummary(t *testing.T) string {
	t.Helper()
	mfs, err := ctrlRun.Metrics.Gather()
	scenario.Must(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "sluice_tick_lag_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		return fmt.Sprintf("n=%d p50≤%s p99≤%s (bucket bounds)", h.GetSampleCount(), bucketBound(h, 0.5), bucketBound(h, 0.99))
	}
	return "absent"
}

func bucketBound(h *dto.Histogram, q float64) time.Duration {
	want := uint64(q * float64(h.GetSampleCount()))
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() >= want {
			return time.Duration(b.GetUpperBound() * float64(time.Second))
		}
	}
	return -1
}

// cpuTime is the CPU time this process has used (user + system).
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	scenario.Must(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostility is how a stats endpoint misbehaves.
type hostility string

const (
	hang      hostility = "hang"      // accepts, reads the request, never answers
	garbage   hostility = "garbage"   // 200 with random bytes
	truncated hostility = "truncated" // promises 1 MiB, sends 4 KiB of a page, hangs up
	endless   hostility = "endless"   // 200, chunked, a valid-looking page that never ends
	drip      hostility = "drip"      // 200, one byte every 50 ms
	probe     hostility = "probe"     // healthy and empty; records when it was scraped
)

// hostileServer serves one stand-in pod's stats port with a hostility.
type hostileServer struct {
	srv *http.Server
	mu  sync.Mutex
	hit []time.Time // probe only
}

func startHostile(t *testing.T, ip string, h hostility) *hostileServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(standin.StatsPort)))
	scenario.Must(t, err)
	hs := &hostileServer{}
	hs.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { hs.serve(w, req, h) })}
	go func() { _ = hs.srv.Serve(ln) }()
	t.Cleanup(func() { _ = hs.srv.Close() })
	return hs
}

// page is a line of a plausible Istio stats page.
const page = `istio_requests_total{reporter="destination",destination_service="reviews",response_code="200"} 12345` + "\n"

func (hs *hostileServer) serve(w http.ResponseWriter, req *http.Request, h hostility) {
	ctx := req.Context()
	switch h {
	case hang:
		<-ctx.Done()
	case garbage:
		b := make([]byte, 64<<10)
		for i := range b {
			b[i] = byte(rand.IntN(256))
		}
		_, _ = w.Write(b)
	case truncated:
		w.Header().Set("Content-Length", strconv.Itoa(1<<20))
		_, _ = w.Write([]byte(strings.Repeat(page, 4096/len(page))))
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
	case endless:
		chunk := []byte(strings.Repeat(page, (64<<10)/len(page)))
		for ctx.Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	case drip:
		for ctx.Err() == nil {
			if _, err := w.Write([]byte{'#'}); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	case probe:
		hs.mu.Lock()
		hs.hit = append(hs.hit, time.Now())
		hs.mu.Unlock()
	}
}

func (hs *hostileServer) hits() []time.Time {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return append([]time.Time(nil), hs.hit...)
}

// addHostilePod creates a Running, Ready pod of subset at ip, as a kubelet would report
// it, whose stats port is served by a hostile server.
func (r *rollout) addHostilePod(name, subset, ip string) {
	r.T.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.NS, Labels: map[string]string{"app": r.Svc, "version": subset}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: standin.Image},
			{Name: "istio-proxy", Image: standin.Image, Ports: []corev1.ContainerPort{{ContainerPort: standin.StatsPort}}},
		}},
	}
	created, err := kube.CoreV1().Pods(r.NS).Create(r.Ctx, pod, metav1.CreateOptions{})
	scenario.Must(r.T, err)
	now := metav1.Now()
	created.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}, StartTime: &now, QOSClass: created.Status.QOSClass}
	for _, c := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		created.Status.Conditions = append(created.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	for _, c := range pod.Spec.Containers {
		started := true
		created.Status.ContainerStatuses = append(created.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, Ready: true, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
	_, err = kube.CoreV1().Pods(r.NS).UpdateStatus(r.Ctx, created, metav1.UpdateOptions{})
	scenario.Must(r.T, err)
}

// vmHWM is this process's peak resident set size (VmHWM), in bytes.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	scenario.Must(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			scenario.Must(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// heapPeak samples the Go heap in use every 20 ms until stop, and returns its peak.
func heapPeak(ctx context.Context) func() uint64 {
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() uint64 {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
