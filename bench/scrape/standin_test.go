package scrape

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// The stand-in endpoints run in a child process (this test binary re-executed with
// standInEnv set) so that the parent's CPU time is the scraping side's alone.
const standInEnv = "SLUICE_SCRAPE_STANDIN"

const (
	endpoints = 4000
	perOctet  = 250 // 127.1.X.1 … 127.1.X.250
)

// endpointIP is the loopback address of stand-in i.
func endpointIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/perOctet, i%perOctet+1) }

// raiseNoFile lifts the soft open-files limit to the hard one.
func raiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// runStandIns binds endpoints loopback addresses on one port, serves every one of them a
// destination-side page, prints "ready <port>" and serves until stdin closes.
func runStandIns() {
	if _, err := raiseNoFile(); err != nil {
		fmt.Println("error raising RLIMIT_NOFILE:", err)
		os.Exit(1)
	}
	ls, err := bindAll()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pages := [2][]byte{[]byte(standInPage("v1")), []byte(standInPage("v2"))}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := r.Context().Value(http.LocalAddrContextKey).(net.Addr).(*net.TCPAddr).IP.To4()
			body := pages[0]
			if int(ip[3])%10 == 0 { // one endpoint in ten is the canary
				body = pages[1]
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write(body)
		}),
	}
	for _, l := range ls {
		go func() { _ = srv.Serve(l) }()
	}
	fmt.Printf("ready %d %d\n", ls[0].Addr().(*net.TCPAddr).Port, len(pages[0]))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // parent gone or done
	os.Exit(0)
}

func bindAll() ([]net.Listener, error) {
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		first, err := net.Listen("tcp", endpointIP(0)+":0")
		if err != nil {
			return nil, err
		}
		port := first.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{first}
		for i := 1; i < endpoints; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", endpointIP(i), port))
			if err != nil {
				last = err
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == endpoints {
			return ls, nil
		}
		for _, l := range ls {
			_ = l.Close()
		}
	}
	return nil, fmt.Errorf("binding %d addresses on one port: %w", endpoints, last)
}

// istioBounds are Istio's default request duration / size bucket bounds.
var istioBounds = []string{"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000", "30000", "60000", "300000", "600000", "1800000", "3600000"}

// standInPage is what an Istio sidecar sends for
// /stats/prometheus?usedonly&filter=istio_request: istio_requests_total and the
// istio_request_duration_milliseconds and istio_request_bytes histograms, reporter
// "destination", for 2 calling workloads × 2 response codes, with Istio's full label set.
func standInPage(version string) string {
	var b strings.Builder
	type series struct {
		caller, code string
		n            int
	}
	all := []series{{"productpage-v1", "200", 81234}, {"productpage-v1", "503", 17}, {"istio-ingressgateway", "200", 40211}, {"istio-ingressgateway", "503", 3}}
	labels := func(s series) string {
		return fmt.Sprintf(`reporter="destination",source_workload=%q,source_canonical_service=%q,source_canonical_revision="v1",source_workload_namespace="default",source_principal="spiffe://cluster.local/ns/default/sa/%s",source_app=%q,source_version="v1",source_cluster="Kubernetes",destination_workload="reviews-%s",destination_workload_namespace="default",destination_principal="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",destination_app="reviews",destination_version=%q,destination_service="reviews.default.svc.cluster.local",destination_canonical_service="reviews",destination_canonical_revision=%q,destination_service_name="reviews",destination_service_namespace="default",destination_cluster="Kubernetes",request_protocol="http",response_code=%q,grpc_response_status="",response_flags="-",connection_security_policy="mutual_tls"`,
			s.caller, s.caller, s.caller, s.caller, version, version, version, s.code)
	}
	b.WriteString("# TYPE istio_requests_total counter\n")
	for _, s := range all {
		fmt.Fprintf(&b, "istio_requests_total{%s} %d\n", labels(s), s.n)
	}
	for _, h := range []string{"istio_request_bytes", "istio_request_duration_milliseconds"} {
		fmt.Fprintf(&b, "# TYPE %s histogram\n", h)
		for _, s := range all {
			for i, le := range istioBounds {
				fmt.Fprintf(&b, "%s_bucket{%s,le=%q} %d\n", h, labels(s), le, s.n*min(i+1, 10)/10)
			}
			fmt.Fprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %d\n", h, labels(s), s.n)
			fmt.Fprintf(&b, "%s_sum{%s} %d\n", h, labels(s), s.n*37)
			fmt.Fprintf(&b, "%s_count{%s} %d\n", h, labels(s), s.n)
		}
	}
	return b.String()
}
