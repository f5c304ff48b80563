package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/sluicedev/sluice/e2e/metricsapi"
	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

const mib = 1 << 20

var (
	metricsOnce   sync.Once
	metricsServer *metricsapi.Server
	metricsErr    error
)

// standInMetrics returns the stand-in metrics server, started and registered with the
// API server (APIService v1beta1.metrics.k8s.io) on first use.
func standInMetrics(t *testing.T) *metricsapi.Server {
	t.Helper()
	metricsOnce.Do(func() {
		if metricsServer, metricsErr = metricsapi.Start("127.0.253.1", env.FrontProxyCA); metricsErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		metricsErr = metricsServer.Register(ctx, env.Client)
	})
	scenario.Must(t, metricsErr)
	return metricsServer
}

// setMemory gives every pod of subset memory MiB in its app container (and a sidecar's
// 40 MiB) in the stand-in metrics server.
func (s *rollout) setMemory(m *metricsapi.Server, subset string, memory int64) {
	for _, p := range s.Pods[subset] {
		m.SetPod(s.NS, p.Name, metricsapi.Pod{Labels: p.Labels, Usage: map[string]metricsapi.Usage{
			"app": {MemoryBytes: memory * mib, CPUCores: 0.1}, "istio-proxy": {MemoryBytes: 40 * mib, CPUCores: 0.02}}})
	}
}

func createPolicy(t *testing.T, p *sluicev1alpha1.ShiftPolicy) {
	t.Helper()
	scenario.Must(t, env.Client.Create(context.Background(), p))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), p) })
}

// memoryPolicy holds step 1 (20 %) and trips on canary memory 1.5 × stable's in 3
// samples a second apart.
func memoryPolicy(name string) *sluicev1alpha1.ShiftPolicy {
	return &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: sluicev1alpha1.ShiftPolicySpec{
			Steps:        []sluicev1alpha1.Step{{Weight: 20}, {Weight: 100}},
			DefaultDwell: &metav1.Duration{Duration: 10 * time.Minute},
			Guard: &sluicev1alpha1.Guard{MinRequests: ptr.To[int32](10), Resources: &sluicev1alpha1.Resources{
				Interval: &metav1.Duration{Duration: time.Second},
				Memory:   &sluicev1alpha1.MemoryLimit{Factor: ptr.To(1.5), Floor: ptr.To(resource.MustParse("64Mi")), Samples: ptr.To[int32](3)},
			}},
		},
	}
}

// Issue 15: a canary memory spike, read from the resource metrics API that a stand-in
// metrics server serves through the real API server's aggregation layer, rolls the
// canary back (CanaryMemorySpike) with both sides' numbers.
func TestMemorySpikeRollsBack(t *testing.T) {
	m := standInMetrics(t)
	createPolicy(t, memoryPolicy("e2e-memory"))
	s := newRollout(t, "memory", 200, "")
	s.setMemory(m, "v1", 100)
	s.setMemory(m, "v2", 110)
	wl := s.WatchWeights("reviews")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/policy": "e2e-memory"})
	s.WaitTS(20*time.Second, "step 1 (20 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 20 })
	before := m.Requests()
	time.Sleep(4 * time.Second) // 4 samples of a healthy canary
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 20 {
		t.Fatalf("a canary within 1.5 × stable's memory was not left alone: %s", scenario.StatusJSON(ts))
	}
	if m.Requests() <= before {
		t.Fatal("sluice did not read PodMetrics through the API server")
	}
	fault := time.Now()
	s.setMemory(m, "v2", 400)
	ts := s.WaitTS(20*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 8*time.Second)
	d := ts.Status.LastDecision
	if d == nil || d.Reason != "CanaryMemorySpike" || !strings.Contains(d.Message, "canary memory per pod 440.0Mi") ||
		!strings.Contains(d.Message, "stable 140.0Mi") || !strings.Contains(d.Message, s.Pods["v2"][0].Name) {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
}

// Issue 15: a metrics API that never answers does not delay the tick: the error-rate
// guard rolls a failing canary back as fast as without resource checks.
func TestHangingMetricsAPIDoesNotDelayGuard(t *testing.T) {
	m := standInMetrics(t)
	createPolicy(t, memoryPolicy("e2e-memory-hang"))
	s := newRollout(t, "memhang", 200, "")
	s.setMemory(m, "v1", 100)
	s.setMemory(m, "v2", 100)
	wl := s.WatchWeights("reviews")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/policy": "e2e-memory-hang"})
	s.WaitTS(20*time.Second, "step 1 (20 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 20 })
	m.SetHang(true)
	t.Cleanup(func() { m.SetHang(false) })
	hangFrom := m.Requests()
	time.Sleep(2 * time.Second) // the sampler's reads now hang to their deadline
	if m.Requests() <= hangFrom {
		t.Fatal("no PodMetrics read reached the hanging metrics server")
	}
	fault := time.Now()
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 1})
	ts := s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 3*time.Second)
	if d := ts.Status.LastDecision; d == nil || d.Reason != "ErrorRate" {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
}

// Issue 15, the Prometheus variant: the same memory spike read from cAdvisor's series
// through the real Prometheus (guard.resources.source Prometheus).
func TestPrometheusMemorySpikeRollsBack(t *testing.T) {
	needPrometheus(t)
	p := memoryPolicy("e2e-memory-prometheus")
	p.Spec.Guard.Resources.Source = sluicev1alpha1.ResourceSourcePrometheus
	createPolicy(t, p)
	s := newRollout(t, "prommem", 200, "")
	kubelet := startKPI(t, "127.0.253.4")
	kubelet.setCadvisorMemory(s, "v1", 100)
	kubelet.setCadvisorMemory(s, "v2", 110)
	scenario.Must(t, prom.SetTargets(s.NS, []string{kubelet.addr}))
	t.Cleanup(func() { _ = prom.SetTargets(s.NS, nil) })
	wl := s.WatchWeights("reviews")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/policy": p.Name})
	s.WaitTS(20*time.Second, "step 1 (20 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 20 })
	time.Sleep(4 * time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 20 {
		t.Fatalf("a canary within 1.5 × stable's memory was not left alone: %s", scenario.StatusJSON(ts))
	}
	fault := time.Now()
	kubelet.setCadvisorMemory(s, "v2", 400)
	ts := s.WaitTS(20*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 10*time.Second)
	if d := ts.Status.LastDecision; d == nil || d.Reason != "CanaryMemorySpike" || !strings.Contains(d.Message, "canary memory per pod 400.0Mi") {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
}

// kpiServer is a stand-in exposition on loopback for Prometheus to scrape: queue_depth
// and kpi_ready gauges by namespace and version, as a team's own metrics would be.
type kpiServer struct {
	mu     sync.Mutex
	values map[string]float64 // `name{labels}` → value
	addr   string
}

func startKPI(t *testing.T, ip string) *kpiServer {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	scenario.Must(t, err)
	k := &kpiServer{values: map[string]float64{}, addr: l.Addr().String()}
	srv := &http.Server{Handler: k, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return k
}

func (k *kpiServer) set(name, ns, version string, v float64) {
	k.setSeries(fmt.Sprintf("%s{namespace=%q,version=%q}", name, ns, version), v)
}

func (k *kpiServer) setSeries(series string, v float64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.values[series] = v
}

// setCadvisorMemory serves, as a kubelet's cAdvisor does, the working set of the app
// container of every pod of subset.
func (k *kpiServer) setCadvisorMemory(s *rollout, subset string, memory int64) {
	for _, p := range s.Pods[subset] {
		k.setSeries(fmt.Sprintf("container_memory_working_set_bytes{namespace=%q,pod=%q,container=\"app\"}", s.NS, p.Name), float64(memory*mib))
	}
}

func (k *kpiServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	k.mu.Lock()
	defer k.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for series, v := range k.values {
		fmt.Fprintf(w, "%s %g\n", series, v)
	}
}

// checkPolicy holds step 1 (20 %) for dwell, running check.
func checkPolicy(name string, dwell time.Duration, check sluicev1alpha1.Check) *sluicev1alpha1.ShiftPolicy {
	return &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: sluicev1alpha1.ShiftPolicySpec{
			Steps:        []sluicev1alpha1.Step{{Weight: 20}, {Weight: 100}},
			DefaultDwell: &metav1.Duration{Duration: dwell},
			Guard:        &sluicev1alpha1.Guard{MinRequests: ptr.To[int32](10)},
			Checks:       []sluicev1alpha1.Check{check},
		},
	}
}

func needPrometheus(t *testing.T) {
	t.Helper()
	if prom == nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Prometheus is required in CI (make test installs it)")
		}
		t.Skip("no Prometheus binary; run hack/install-debs.sh")
	}
}

// Issue 15: a custom PromQL check, run against the real Prometheus, fails twice in a row
// and rolls the canary back (CheckFailed) with the result and the query.
func TestCustomCheckFails(t *testing.T) {
	needPrometheus(t)
	createPolicy(t, checkPolicy("e2e-check", 10*time.Minute, sluicev1alpha1.Check{
		Name: "queue-depth", Query: `max(queue_depth{namespace="{{namespace}}",version="{{subset}}"})`,
		Op: sluicev1alpha1.CheckMax, Threshold: 100, Interval: &metav1.Duration{Duration: time.Second}, FailureLimit: ptr.To[int32](2)}))
	s := newRollout(t, "check", 200, "")
	kpi := startKPI(t, "127.0.253.2")
	kpi.set("queue_depth", s.NS, "v1", 10)
	kpi.set("queue_depth", s.NS, "v2", 12)
	scenario.Must(t, prom.SetTargets(s.NS, []string{kpi.addr}))
	t.Cleanup(func() { _ = prom.SetTargets(s.NS, nil) })
	wl := s.WatchWeights("reviews")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/policy": "e2e-check"})
	s.WaitTS(20*time.Second, "step 1 (20 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 20 })
	time.Sleep(3 * time.Second) // scraped, and the check ran with data
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 20 {
		t.Fatalf("a passing check tripped: %s", scenario.StatusJSON(ts))
	}
	fault := time.Now()
	kpi.set("queue_depth", s.NS, "v2", 500)
	ts := s.WaitTS(20*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	assertZeroWithin(t, wl, fault, "v2", 8*time.Second)
	d := ts.Status.LastDecision
	if d == nil || d.Reason != "CheckFailed" || !strings.Contains(d.Message, "check queue-depth: canary 500") ||
		!strings.Contains(d.Message, fmt.Sprintf(`queue_depth{namespace="%s",version="v2"}`, s.NS)) {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
}

// Issue 15: a custom check whose query returns nothing holds the rollout (NoData): not
// rolled back, not promoted; once the series exists and passes, the rollout goes on.
func TestCustomCheckNoDataHolds(t *testing.T) {
	needPrometheus(t)
	createPolicy(t, checkPolicy("e2e-check-nodata", 2*time.Second, sluicev1alpha1.Check{
		Name: "kpi-ready", Query: `max(kpi_ready{namespace="{{namespace}}",version="{{subset}}"})`,
		Op: sluicev1alpha1.CheckMin, Threshold: 1, Interval: &metav1.Duration{Duration: time.Second}}))
	s := newRollout(t, "nodata", 200, "")
	kpi := startKPI(t, "127.0.253.3")
	scenario.Must(t, prom.SetTargets(s.NS, []string{kpi.addr}))
	t.Cleanup(func() { _ = prom.SetTargets(s.NS, nil) })
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/policy": "e2e-check-nodata"})
	s.WaitTS(20*time.Second, "step 1 (20 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 20 })
	time.Sleep(6 * time.Second) // three times the dwell
	ts := s.TS()
	d := ts.Status.LastDecision
	if ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 20 || d == nil || d.Reason != "NoData" ||
		!strings.Contains(d.Message, "check kpi-ready has no data") {
		t.Fatalf("a check without data should hold step 1: %s", scenario.StatusJSON(ts))
	}
	kpi.set("kpi_ready", s.NS, "v2", 1)
	ts = s.WaitTS(30*time.Second, "Promoted once the check has data", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	if h := ts.Status.History[0]; h.Canary != "v2" || h.Result != sluicev1alpha1.PhasePromoted {
		t.Fatalf("history: %s", scenario.StatusJSON(ts))
	}
}
