package standin

import (
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

const (
	fixture15   = "../../testdata/envoy/istio-1.5-sidecar-stats-prometheus.txt"
	reviewsHost = "reviews.default.svc.cluster.local"
)

// callerReport parses a caller page the way sluice's caller side does.
func callerReport(t *testing.T, page []byte) envoy.Report {
	t.Helper()
	rep, err := envoy.Parse(page, envoy.Query{Host: reviewsHost, Side: envoy.Source})
	if err != nil {
		t.Fatalf("sluice cannot parse the caller page: %v\n%s", err, page)
	}
	return rep
}

type callerReq struct {
	subset      string
	code        int
	latencyMs   float64 // NaN: no upstream time (the request never got a response)
	sent        bool
	connectFail bool
}

func TestCallerPage(t *testing.T) {
	const cluster = "outbound|9080|%s|" + reviewsHost
	tests := map[string]struct {
		reqs    []callerReq
		trimmed bool
		// want is subset → requests, 5xx, timed requests.
		want map[string][3]uint64
	}{
		"successes and errors": {
			reqs: []callerReq{{"v1", 200, 3, true, false}, {"v1", 200, 7, true, false}, {"v1", 503, 2, true, false}, {"v2", 404, 1, true, false}},
			want: map[string][3]uint64{"v1": {3, 1, 3}, "v2": {1, 0, 1}},
		},
		"connect failure and no healthy upstream": {
			reqs: []callerReq{{"v2", 503, math.NaN(), true, true}, {"v2", 503, math.NaN(), false, false}, {"v2", 200, 40, true, false}},
			want: map[string][3]uint64{"v2": {3, 2, 1}},
		},
		"trimmed": {
			reqs:    []callerReq{{"v1", 200, 3, true, false}},
			trimmed: true,
			want:    map[string][3]uint64{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var trimmed atomic.Bool
			trimmed.Store(tc.trimmed)
			s := &callerStats{host: reviewsHost, trimmed: &trimmed, clusters: map[string]*clusterStats{}}
			for _, r := range tc.reqs {
				s.record(strings.Replace(cluster, "%s", r.subset, 1), r.code, r.latencyMs, r.sent, r.connectFail)
			}
			var buf bytes.Buffer
			if err := s.writePrometheus(&buf); err != nil {
				t.Fatal(err)
			}
			page := buf.Bytes()
			fams := parsePage(t, page) // valid text exposition format
			if fams["istio_build"] == nil || fams["envoy_server_live"] == nil {
				t.Errorf("page lacks istio_build or server stats:\n%s", page)
			}
			rep := callerReport(t, page)
			if len(rep.Subsets) != len(tc.want) {
				t.Fatalf("subsets %v, want %v\n%s", rep.Subsets, tc.want, page)
			}
			for subset, w := range tc.want {
				c := rep.Subsets[subset]
				if c.Requests != w[0] || c.Rq5xx != w[1] || c.Latency.Count != w[2] {
					t.Errorf("%s: requests %d 5xx %d timed %d, want %v (response_code and response_code_class must not both count)", subset, c.Requests, c.Rq5xx, c.Latency.Count, w)
				}
			}
			if tc.trimmed && bytes.Contains(page, []byte("outbound|")) {
				t.Errorf("trimmed page names an outbound cluster:\n%s", page)
			}
		})
	}
}

// The label order and family layout follow the Istio 1.5 proxy fixture.
func TestCallerPageMatchesIstioFixture(t *testing.T) {
	fixture, err := os.ReadFile(fixture15)
	if err != nil {
		t.Fatal(err)
	}
	var trimmed atomic.Bool
	s := &callerStats{host: reviewsHost, trimmed: &trimmed, clusters: map[string]*clusterStats{}}
	s.record("outbound|9080|v2|"+reviewsHost, 503, 1, true, false)
	var buf bytes.Buffer
	if err := s.writePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"envoy_cluster_upstream_rq{response_code_class=", "envoy_cluster_upstream_rq_completed{"} {
		want := labelNames(firstLine(t, fixture, prefix))
		got := labelNames(firstLine(t, buf.Bytes(), prefix))
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s… labels %v, fixture has %v", prefix, got, want)
		}
	}
	for _, line := range []string{"# TYPE envoy_cluster_upstream_rq counter", "# TYPE envoy_cluster_upstream_rq_completed counter"} {
		if !bytes.Contains(fixture, []byte(line+"\n")) || !bytes.Contains(buf.Bytes(), []byte(line+"\n")) {
			t.Errorf("%q missing from the fixture or from our page", line)
		}
	}
}

func TestCallers(t *testing.T) {
	client, dyn := apiClients(t, "default", vsObject(t, map[string]int32{"v1": 50, "v2": 50}))
	ctx := t.Context()
	f, err := Start(ctx, Config{Client: client, Dynamic: dyn, Namespace: "default", Service: "reviews",
		VirtualService: "reviews", Rate: 0, IPPrefix: "127.0.96.", Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()
	gwLabels := map[string]string{"app": "gateway"}
	if _, err := f.AddCallers(ctx, "gw-test", gwLabels, 2); err == nil || !strings.Contains(err.Error(), "Service default/reviews") {
		t.Fatalf("AddCallers without the Service: %v", err)
	}
	_, err = client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	callers, err := f.AddCallers(ctx, "gw-test", gwLabels, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, "gw-test", metav1.GetOptions{}); err != nil {
		t.Errorf("caller namespace not created: %v", err)
	}
	for i, p := range callers {
		stored, err := client.CoreV1().Pods("gw-test").Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"127.0.96.1", "127.0.96.2"}[i]; stored.Status.PodIP != want || !podReady(stored) || stored.Labels["app"] != "gateway" {
			t.Errorf("%s: ip %s ready %v labels %v, want ip %s, Ready, app=gateway", p.Name, stored.Status.PodIP, podReady(stored), stored.Labels, want)
		}
	}
	for _, v := range []string{"v1", "v2"} {
		if _, err := f.AddPods(ctx, v, map[string]string{"app": "reviews", "version": v}, 1); err != nil {
			t.Fatal(err)
		}
	}
	f.SetRate(2000)
	eventually(t, "v2 traffic", func() bool { n, _ := f.Served("v2"); return n > 200 })

	f.SetUnreachable("v2", true)
	servedAtFault, _ := f.Served("v2")
	_, callerErrsAtFault := f.CallerCounts("v2")
	eventually(t, "caller-side v2 failures", func() bool { _, e := f.CallerCounts("v2"); return e > callerErrsAtFault+200 })
	if n, e := f.Served("v2"); n != servedAtFault || e != 0 {
		t.Errorf("v2 pods served %d (%d errors) after becoming unreachable, %d before", n, e, servedAtFault)
	}

	f.SetRate(0)
	time.Sleep(5 * sliceEvery) // let an in-flight slice finish
	t.Run("scraped caller counters equal what the callers counted", func(t *testing.T) {
		sum := map[string]traffic.Counts{}
		for _, p := range callers {
			rep := callerReport(t, scrapeURL(t, envoy.StatsURL("http://"+net.JoinHostPort(p.Status.PodIP, "15090")+StatsPath, envoy.Query{Host: reviewsHost, Side: envoy.Source})))
			for s, c := range rep.Subsets {
				acc := sum[s]
				acc.Requests += c.Requests
				acc.Rq5xx += c.Rq5xx
				sum[s] = acc
			}
		}
		for _, s := range []string{"v1", "v2"} {
			n, e := f.CallerCounts(s)
			if sum[s].Requests != n || sum[s].Rq5xx != e {
				t.Errorf("%s: scraped %d requests %d 5xx, CallerCounts %d %d", s, sum[s].Requests, sum[s].Rq5xx, n, e)
			}
			served, servedErrs := f.Served(s)
			failedAtCaller := e - servedErrs - f.Dropped(s)
			if n != served+f.Dropped(s)+failedAtCaller || (s == "v1" && failedAtCaller != 0) {
				t.Errorf("%s: callers counted %d, pods served %d, dropped %d, failed at the caller %d", s, n, served, f.Dropped(s), failedAtCaller)
			}
		}
	})
	t.Run("counted at the callers", func(t *testing.T) {
		reqs, errs := f.CallerCounts("v2")
		served, _ := f.Served("v2")
		before := callerReport(t, scrape(t, callers[0].Status.PodIP)).Subsets["v2"].Rq5xx +
			callerReport(t, scrape(t, callers[1].Status.PodIP)).Subsets["v2"].Rq5xx
		f.CountAtCallers("v2", 503, 10)
		after := callerReport(t, scrape(t, callers[0].Status.PodIP)).Subsets["v2"].Rq5xx +
			callerReport(t, scrape(t, callers[1].Status.PodIP)).Subsets["v2"].Rq5xx
		n, e := f.CallerCounts("v2")
		if now, _ := f.Served("v2"); n != reqs+10 || e != errs+10 || after != before+10 || now != served {
			t.Errorf("after 10 counted: CallerCounts %d %d (before %d %d), scraped 5xx %d (before %d), pods served %d (before %d)", n, e, reqs, errs, after, before, now, served)
		}
	})
	t.Run("trimmed", func(t *testing.T) {
		f.SetCallerStatsTrimmed(true)
		page := scrapeURL(t, "http://"+net.JoinHostPort(callers[0].Status.PodIP, "15090")+StatsPath)
		if rep := callerReport(t, page); len(rep.Subsets) != 0 {
			t.Errorf("trimmed caller reports %v", rep.Subsets)
		}
		if !bytes.Contains(page, []byte(`istio_build{`)) {
			t.Errorf("trimmed page lacks istio_build:\n%s", page)
		}
		f.SetCallerStatsTrimmed(false)
		if rep := callerReport(t, scrape(t, callers[0].Status.PodIP)); len(rep.Subsets) != 2 {
			t.Errorf("untrimmed caller reports %v", rep.Subsets)
		}
	})

	f.Stop()
	if c, err := net.DialTimeout("tcp", callers[0].Status.PodIP+":15090", time.Second); err == nil {
		c.Close()
		t.Error("a caller's server still runs after Stop")
	}
	if _, err := f.AddCallers(context.WithoutCancel(ctx), "gw-test", gwLabels, 1); err == nil {
		t.Error("AddCallers after Stop succeeded")
	}
}

func scrapeURL(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scraping %s: %d %v", url, resp.StatusCode, err)
	}
	return body
}
