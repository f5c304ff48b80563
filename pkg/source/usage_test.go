package source

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/sluicedev/sluice/pkg/spec"
)

// cadvisorPage is a kubelet's cAdvisor exposition for pods of namespace shop: per pod,
// its app container's working set and cumulative CPU seconds, plus the pause container
// and the pod-level series without a container (both must not be counted), and a
// custom queue-depth gauge by version.
func cadvisorPage(mem map[string]float64, cpuSeconds float64) string {
	var b strings.Builder
	b.WriteString("# TYPE container_memory_working_set_bytes gauge\n# TYPE container_cpu_usage_seconds_total counter\n# TYPE queue_depth gauge\n")
	for pod, m := range mem {
		fmt.Fprintf(&b, "container_memory_working_set_bytes{namespace=\"shop\",pod=%q,container=\"app\"} %g\n", pod, m)
		fmt.Fprintf(&b, "container_memory_working_set_bytes{namespace=\"shop\",pod=%q,container=\"POD\"} 1e6\n", pod)
		fmt.Fprintf(&b, "container_memory_working_set_bytes{namespace=\"shop\",pod=%q,container=\"\"} 9e9\n", pod)
		fmt.Fprintf(&b, "container_cpu_usage_seconds_total{namespace=\"shop\",pod=%q,container=\"app\"} %g\n", pod, cpuSeconds)
	}
	b.WriteString("queue_depth{namespace=\"shop\",version=\"v1\"} 4\nqueue_depth{namespace=\"shop\",version=\"v2\"} 9\n")
	return b.String()
}

// TestUsageAndChecksRealPrometheus: the cAdvisor queries and custom checks, as sluice
// expands them, against a real Prometheus scraping a stand-in kubelet.
func TestUsageAndChecksRealPrometheus(t *testing.T) {
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Skipf("%s not found (%v): run hack/install-debs.sh (Debian package prometheus) to run this test", prometheusBin, err)
	}
	if testing.Short() {
		t.Skip("starts a Prometheus server; skipped with -short")
	}
	mem := map[string]float64{"reviews-v1-a": 100e6, "reviews-v1-b": 120e6, "reviews-v2-a": 300e6, "other-x": 5e9}
	kubelet := &page{}
	start := time.Now()
	update := func() { kubelet.set(cadvisorPage(mem, 0.25*time.Since(start).Seconds())) }
	update()
	ips, port := standIns(t, kubelet)
	addr := startPrometheus(t, []string{net.JoinHostPort(ips[0], fmt.Sprint(port))})
	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{API: v1.NewAPI(client), Timeout: 5 * time.Second}
	u := &PrometheusUsage{Prometheus: p, CPURange: "5s"}
	req := UsageRequest{Namespace: "shop", Subsets: map[string]SubsetPods{
		"v1": {Names: []string{"reviews-v1-a", "reviews-v1-b"}}, "v2": {Names: []string{"reviews-v2-a"}}}}

	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	var got Usage
	for {
		update()
		// rate() over 5s reads low until the range holds 5s of samples.
		if got, err = u.ReadUsage(ctx, req); err == nil && len(got["v1"]) == 2 && len(got["v2"]) == 1 && math.Abs(got["v2"][0].CPUCores-0.25) < 0.05 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usage with the CPU served (0.25 cores) from Prometheus: %+v, %v", got, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got["v1"][0].Name != "reviews-v1-a" || got["v1"][0].MemoryBytes != 100e6 || got["v1"][1].MemoryBytes != 120e6 || got["v2"][0].MemoryBytes != 300e6 {
		t.Fatalf("memory %+v: want the app containers' working sets only", got)
	}

	tests := map[string]struct {
		query   string
		want    float64 // NaN: no data
		wantErr string
	}{
		"a check expanded for the canary": {query: spec.Expand(`sum(queue_depth{namespace="{{namespace}}",version="{{subset}}"})`, "shop", "reviews", "v2"), want: 9},
		"a scalar":                        {query: `scalar(sum(queue_depth{namespace="shop"}))`, want: 13},
		"an empty result is no data":      {query: spec.Expand(`sum(queue_depth{version="{{subset}}"})`, "shop", "reviews", "v9\"} or vector(1) #"), want: math.NaN()},
		"several series":                  {query: `queue_depth`, wantErr: "returned 2 series, want one"},
		"a broken query":                  {query: `sum((queue_depth`, wantErr: "bad_data"},
		"a range vector":                  {query: `queue_depth[5s]`, wantErr: "want a scalar or one sample"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v, err := p.Value(ctx, tc.query)
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Value(%s) = %g, %v; want an error with %q", tc.query, v, err, tc.wantErr)
				}
			case err != nil:
				t.Fatalf("Value(%s): %v", tc.query, err)
			case math.IsNaN(tc.want) != math.IsNaN(v) || !math.IsNaN(v) && v != tc.want:
				t.Fatalf("Value(%s) = %g, want %g", tc.query, v, tc.want)
			}
		})
	}
}
