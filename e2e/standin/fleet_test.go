package standin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func vsObject(t *testing.T, weights map[string]int32) *unstructured.Unstructured {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n")
	for _, s := range []string{"v1", "v2", "v3"} {
		if w, ok := weights[s]; ok {
			fmt.Fprintf(&b, "    - destination: {host: reviews, subset: %s}\n      weight: %d\n", s, w)
		}
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(b.String()), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func scrape(t *testing.T, ip string) []byte {
	t.Helper()
	resp, err := http.Get("http://" + net.JoinHostPort(ip, "15090") + StatsPath)
	if err != nil {
		t.Fatalf("scraping %s: %v", ip, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %d %v", ip, resp.StatusCode, err)
	}
	return body
}

// requestsByCode sums istio_requests_total of one scraped page by response_code.
func requestsByCode(t *testing.T, page []byte) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	if f := parsePage(t, page)["istio_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			out[labelMap(m)["response_code"]] += uint64(m.GetCounter().GetValue())
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFleet(t *testing.T) {
	const ns = "fleet"
	client, dyn := apiClients(t, ns, vsObject(t, map[string]int32{"v1": 100}))
	before := runtime.NumGoroutine()
	ctx := t.Context()
	f, err := Start(ctx, Config{Client: client, Dynamic: dyn, Namespace: ns, Service: "reviews",
		VirtualService: "reviews", Rate: 2000, IPPrefix: "127.0.91.", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if got := f.Weights(); !maps.Equal(got, map[string]int32{"v1": 100}) {
		t.Fatalf("weights after Start %v", got)
	}

	v1, err := f.AddPods(ctx, "v1", map[string]string{"app": "reviews", "version": "v1"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := f.AddPods(ctx, "v2", map[string]string{"app": "reviews", "version": "v2"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("pod objects", func(t *testing.T) {
		for i, p := range append(v1, v2...) {
			stored, err := client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantIP := fmt.Sprintf("127.0.91.%d", i+1)
			if stored.Status.PodIP != wantIP || len(stored.Status.PodIPs) != 1 || stored.Status.PodIPs[0].IP != wantIP {
				t.Errorf("%s: podIP %q podIPs %v, want %s", p.Name, stored.Status.PodIP, stored.Status.PodIPs, wantIP)
			}
			if stored.Status.Phase != corev1.PodRunning || !podReady(stored) {
				t.Errorf("%s: phase %s, ready %v", p.Name, stored.Status.Phase, podReady(stored))
			}
			if stored.Labels["app"] != "reviews" || stored.Labels["version"] == "" {
				t.Errorf("%s: labels %v", p.Name, stored.Labels)
			}
			if len(stored.Spec.Containers) == 0 || stored.Spec.Containers[0].Image != Image || stored.Spec.NodeName != "" {
				t.Errorf("%s: spec %+v", p.Name, stored.Spec)
			}
		}
	})

	t.Run("traffic follows the VirtualService", func(t *testing.T) {
		eventually(t, "v1 traffic", func() bool { n, _ := f.Served("v1"); return n > 200 })
		if n, _ := f.Served("v2"); n != 0 {
			t.Fatalf("v2 served %d while absent from the route", n)
		}
		if got := requestsByCode(t, scrape(t, v2[0].Status.PodIP)); len(got) != 0 {
			t.Fatalf("v2 pod reports %v", got)
		}
		setWeights(t, dyn, ns, map[string]int32{"v1": 50, "v2": 50})
		eventually(t, "weights 50/50", func() bool { return maps.Equal(f.Weights(), map[string]int32{"v1": 50, "v2": 50}) })
		eventually(t, "v2 traffic", func() bool { n, _ := f.Served("v2"); return n > 200 })
		f.SetBehaviour("v2", SubsetBehaviour{ErrorRate: 1})
		eventually(t, "v2 errors", func() bool { _, e := f.Served("v2"); return e > 100 })
		if _, e := f.Served("v1"); e != 0 {
			t.Errorf("v1 had %d errors", e)
		}
	})

	t.Run("scraped counters equal what was served", func(t *testing.T) {
		f.SetRate(0)
		time.Sleep(5 * sliceEvery) // let an in-flight slice finish
		for subset, pods := range map[string][]*corev1.Pod{"v1": v1, "v2": v2} {
			var total, errs uint64
			for _, p := range pods {
				byCode := requestsByCode(t, scrape(t, p.Status.PodIP))
				for code, n := range byCode {
					total += n
					if code == "503" {
						errs += n
					}
				}
			}
			if n, e := f.Served(subset); n != total || e != errs {
				t.Errorf("%s: scraped %d requests %d errors, Served says %d %d", subset, total, errs, n, e)
			}
		}
		f.SetRate(2000)
	})

	t.Run("Send", func(t *testing.T) {
		f.SetRate(0)
		time.Sleep(5 * sliceEvery) // let an in-flight slice finish
		defer f.SetRate(2000)
		n, e := f.Served("v2")
		scraped := requestsByCode(t, scrape(t, v2[0].Status.PodIP))["503"]
		if got := f.Send("v2", 503, 7); got != 7 {
			t.Fatalf("Send to v2 delivered %d, want 7", got)
		}
		if n2, e2 := f.Served("v2"); n2 != n+7 || e2 != e+7 {
			t.Errorf("after sending 7 errors: served %d, %d errors; before %d, %d", n2, e2, n, e)
		}
		if got := requestsByCode(t, scrape(t, v2[0].Status.PodIP))["503"]; got != scraped+7 {
			t.Errorf("v2 pod reports %d 503s, want %d", got, scraped+7)
		}
		if got := f.Send("v9", 200, 3); got != 0 {
			t.Errorf("Send to a subset without pods delivered %d", got)
		}
	})

	t.Run("servers bind only to the pod IP", func(t *testing.T) {
		if c, err := net.DialTimeout("tcp", "127.0.91.250:15090", time.Second); err == nil {
			c.Close()
			t.Fatal("127.0.91.250:15090 accepts connections: a server listens on all addresses")
		}
	})

	t.Run("DeletePod", func(t *testing.T) {
		gone := v1[0]
		if err := f.DeletePod(ctx, gone.Name); err != nil {
			t.Fatal(err)
		}
		if _, err := client.CoreV1().Pods(ns).Get(ctx, gone.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod object still there: %v", err)
		}
		if c, err := net.DialTimeout("tcp", gone.Status.PodIP+":15090", time.Second); err == nil {
			c.Close()
			t.Error("deleted pod's server still accepts connections")
		}
		if got := f.Pods("v1"); len(got) != 1 || got[0] != v1[1].Name {
			t.Errorf("v1 pods %v", got)
		}
		before := requestsByCode(t, scrape(t, v1[1].Status.PodIP))["200"]
		eventually(t, "traffic on the remaining v1 pod", func() bool {
			return requestsByCode(t, scrape(t, v1[1].Status.PodIP))["200"] > before+50
		})
		if err := f.DeletePod(ctx, gone.Name); err == nil {
			t.Error("deleting it twice succeeded")
		}
	})

	t.Run("subset without pods is dropped", func(t *testing.T) {
		setWeights(t, dyn, ns, map[string]int32{"v1": 50, "v3": 50})
		eventually(t, "weights with v3", func() bool { return maps.Equal(f.Weights(), map[string]int32{"v1": 50, "v3": 50}) })
		eventually(t, "dropped v3 requests", func() bool { return f.Dropped("v3") > 100 })
		if n, _ := f.Served("v3"); n != 0 {
			t.Errorf("v3 served %d without pods", n)
		}
	})

	f.Stop()
	f.Stop() // idempotent
	if _, err := f.AddPods(ctx, "v1", nil, 1); err == nil {
		t.Error("AddPods after Stop succeeded")
	}
	if c, err := net.DialTimeout("tcp", v2[0].Status.PodIP+":15090", time.Second); err == nil {
		c.Close()
		t.Error("a server still runs after Stop")
	}
	http.DefaultClient.CloseIdleConnections()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func TestStopOnContextCancel(t *testing.T) {
	client, dyn := apiClients(t, "stop-on-cancel", vsObject(t, map[string]int32{"v1": 100}))
	ctx, cancel := context.WithCancel(t.Context())
	f, err := Start(ctx, Config{Client: client, Dynamic: dyn, Namespace: "stop-on-cancel", Service: "reviews",
		VirtualService: "reviews", Rate: 100, IPPrefix: "127.0.93.", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.AddPods(ctx, "v1", map[string]string{"app": "reviews"}, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	eventually(t, "the server to stop", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.93.1:15090", time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	f.Stop()
}

func TestStartRejectsBadConfig(t *testing.T) {
	client, dyn := apiClients(t, "bad-config")
	good := Config{Client: client, Dynamic: dyn, Namespace: "bad-config", Service: "reviews", VirtualService: "reviews", Rate: 1, IPPrefix: "127.0.94."}
	tests := map[string]struct {
		edit func(*Config)
		want string
	}{
		"no client":          {edit: func(c *Config) { c.Client = nil }, want: "Client"},
		"no service":         {edit: func(c *Config) { c.Service = "" }, want: "Service"},
		"negative rate":      {edit: func(c *Config) { c.Rate = -1 }, want: "Rate"},
		"prefix without dot": {edit: func(c *Config) { c.IPPrefix = "127.0.94" }, want: "IPPrefix"},
		"IPv6 prefix":        {edit: func(c *Config) { c.IPPrefix = "::" }, want: "IPPrefix"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			f, err := Start(t.Context(), cfg)
			if err == nil {
				f.Stop()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestStartWithoutVirtualService(t *testing.T) {
	client, dyn := apiClients(t, "no-vs")
	f, err := Start(t.Context(), Config{Client: client, Dynamic: dyn, Namespace: "no-vs", Service: "reviews",
		VirtualService: "missing", Rate: 100, IPPrefix: "127.0.95."})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	if w := f.Weights(); len(w) != 0 {
		t.Errorf("weights %v without a VirtualService", w)
	}
}
