package source

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluicedev/sluice/pkg/traffic"
)

const reviews = "reviews.default.svc.cluster.local"

// page is a stand-in stats endpoint whose body can change between scrapes.
type page struct {
	mu      sync.Mutex
	body    string
	status  int           // 0 means 200
	delay   time.Duration // hang this long (or until the client gives up) before answering
	queries []string      // raw query strings of the requests received
}

func (p *page) set(body string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.body = body
}

func (p *page) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.queries...)
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.queries = append(p.queries, r.URL.RawQuery)
	body, status, delay := p.body, p.status, p.delay
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = io.WriteString(w, body)
}

// standIns serves each handler on its own 127.0.0.x address, all on one port (as pods
// all expose :15090), and returns the addresses and the port.
func standIns(t testing.TB, hs ...http.Handler) (ips []string, port int) {
	t.Helper()
	for attempt := 0; attempt < 50; attempt++ {
		base := 10 + rand.IntN(240-len(hs))
		ls, err := listenAll(base, len(hs))
		if err != nil {
			continue
		}
		for i, l := range ls {
			srv := &http.Server{Handler: hs[i], ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(l) }()
			t.Cleanup(func() { _ = srv.Close() })
			ips = append(ips, l.Addr().(*net.TCPAddr).IP.String())
		}
		return ips, ls[0].Addr().(*net.TCPAddr).Port
	}
	t.Fatalf("could not bind %d loopback addresses on one port", len(hs))
	return nil, 0
}

// listenAll binds 127.0.0.base … 127.0.0.(base+n-1) on one free port.
func listenAll(base, n int) ([]net.Listener, error) {
	first, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", base))
	if err != nil {
		return nil, err
	}
	ls := []net.Listener{first}
	port := first.Addr().(*net.TCPAddr).Port
	for i := 1; i < n; i++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:%d", base+i, port))
		if err != nil {
			for _, l := range ls {
				_ = l.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// testPod is a Ready pod with an IP.
func testPod(ns, name, ip string, labels map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: labels},
		Status: corev1.PodStatus{
			PodIP:      ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// obs is n requests to one subset answered with code, each taking ms milliseconds.
type obs struct {
	code string
	n    uint64
	ms   float64
}

// istioBounds are Istio's default request duration buckets (ms).
var istioBounds = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// destPage renders what a subset pod's sidecar serves for /stats/prometheus?usedonly&
// filter=istio_request: istio_requests_total and the duration histogram, reporter
// "destination", one series per response code, with Istio's full label set.
func destPage(host, version string, os ...obs) string {
	var b strings.Builder
	labels := func(code string) string {
		svc, _, _ := strings.Cut(host, ".")
		return fmt.Sprintf(`response_code=%q,reporter="destination",source_workload="istio-ingressgateway",source_workload_namespace="istio-system",source_principal="spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",source_app="istio-ingressgateway",source_version="unknown",source_cluster="Kubernetes",destination_workload="%s-%s",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-%s",destination_app="%s",destination_version=%q,destination_service=%q,destination_service_name=%q,destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_flags="-",grpc_response_status="",connection_security_policy="mutual_tls",source_canonical_service="istio-ingressgateway",destination_canonical_service=%q,source_canonical_revision="latest",destination_canonical_revision=%q`,
			code, svc, version, svc, svc, version, host, svc, svc, version)
	}
	b.WriteString("# TYPE istio_requests_total counter\n")
	for _, o := range os {
		fmt.Fprintf(&b, "istio_requests_total{%s} %d\n", labels(o.code), o.n)
	}
	b.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
	for _, o := range os {
		for _, le := range istioBounds {
			var n uint64
			if o.ms <= le {
				n = o.n
			}
			fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,le=\"%g\"} %d\n", labels(o.code), le, n)
		}
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,le=\"+Inf\"} %d\n", labels(o.code), o.n)
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_sum{%s} %g\n", labels(o.code), float64(o.n)*o.ms)
		fmt.Fprintf(&b, "istio_request_duration_milliseconds_count{%s} %d\n", labels(o.code), o.n)
	}
	return b.String()
}

// want computes, independently of any parser, the counts that os add up to.
func want(os ...obs) traffic.Counts {
	var c traffic.Counts
	if len(os) == 0 {
		return c
	}
	c.Latency.Bounds = append([]float64(nil), istioBounds...)
	c.Latency.Counts = make([]uint64, len(istioBounds))
	for _, o := range os {
		c.Requests += o.n
		switch o.code[0] {
		case '2':
			c.Rq2xx += o.n
		case '3':
			c.Rq3xx += o.n
		case '4':
			c.Rq4xx += o.n
		case '5':
			c.Rq5xx += o.n
		}
		for i, le := range istioBounds {
			if o.ms <= le {
				c.Latency.Counts[i] += o.n
			}
		}
		c.Latency.Count += o.n
		c.Latency.Sum += float64(o.n) * o.ms
	}
	return c
}
