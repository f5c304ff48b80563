package source

import (
	"context"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/sluicedev/sluice/e2e/promserver"
	"github.com/sluicedev/sluice/pkg/traffic"
)

const prometheusBin = promserver.Binary

// TestPrometheusRealServer runs a real Prometheus that scrapes stand-in sidecars every
// second, advances their counters, and checks that what PromQL returns per subset is
// exactly what the stand-ins served.
func TestPrometheusRealServer(t *testing.T) {
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Skipf("%s not found (%v): run hack/install-debs.sh (Debian package prometheus) to run this test", prometheusBin, err)
	}
	if testing.Short() {
		t.Skip("starts a Prometheus server; skipped with -short")
	}
	pods := map[string]*page{"reviews-v1-a": {}, "reviews-v1-b": {}, "reviews-v2-a": {}}
	served := map[string][]obs{}
	serve := func(pod string, os ...obs) {
		served[pod] = os
		pods[pod].set(destPage(reviews, strings.Split(pod, "-")[1], os...))
	}
	ips, port := standIns(t, pods["reviews-v1-a"], pods["reviews-v1-b"], pods["reviews-v2-a"])
	// Another Service's sidecar on the same Prometheus must not leak into reviews.
	ratings := &page{body: destPage("ratings.default.svc.cluster.local", "v1", obs{"503", 77, 3})}
	rips, rport := standIns(t, ratings)

	targets := []string{}
	for _, ip := range ips {
		targets = append(targets, net.JoinHostPort(ip, fmt.Sprint(port)))
	}
	targets = append(targets, net.JoinHostPort(rips[0], fmt.Sprint(rport)))
	serve("reviews-v1-a", obs{"200", 5, 30})
	serve("reviews-v1-b", obs{"200", 2, 30}, obs{"503", 1, 4})
	serve("reviews-v2-a", obs{"200", 4, 120}, obs{"500", 2, 4}, obs{"0", 1, 2})

	addr := startPrometheus(t, targets)
	client, err := api.NewClient(api.Config{Address: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	src := &Prometheus{API: v1.NewAPI(client), Timeout: 5 * time.Second}
	req := Request{Host: reviews, Namespace: "default", Subsets: map[string][]corev1.Pod{"v1": nil, "v2": nil, "v3": nil}}

	expect := func() map[string]traffic.Counts {
		return map[string]traffic.Counts{
			"v1": want(append(append([]obs{}, served["reviews-v1-a"]...), served["reviews-v1-b"]...)...),
			"v2": want(served["reviews-v2-a"]...),
			"v3": {}, // no series: no request yet
		}
	}
	waitFor(t, src, req, "first scrape", expect())

	// Counters advance; Prometheus must follow with cumulative values.
	serve("reviews-v1-a", obs{"200", 25, 30}, obs{"404", 3, 1})
	serve("reviews-v2-a", obs{"200", 4, 120}, obs{"500", 9, 4}, obs{"0", 1, 2})
	next := expect()
	if next["v2"].Rq5xx != 9 || next["v1"].Requests != 31 {
		t.Fatalf("test set-up: expected counts %+v", next)
	}
	waitFor(t, src, req, "after counters advanced", next)

	tests := map[string]struct {
		req      Request
		q        Queries
		wantNote string
	}{
		"a host Prometheus has no series for": {
			req:      Request{Host: "nope.default.svc.cluster.local", Subsets: map[string][]corev1.Pod{"v1": nil}},
			wantNote: "Prometheus has no request series for nope.default.svc.cluster.local",
		},
		"series whose versions match no subset": {
			req:      Request{Host: reviews, Subsets: map[string][]corev1.Pod{"stable": nil, "canary": nil}},
			wantNote: "only with destination_version v1, v2, none of them a subset (canary, stable)",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			snap, err := (&Prometheus{API: src.API, Queries: tc.q}).Read(context.Background(), tc.req)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			for s, ss := range snap.Subsets {
				if ss.Failed != 1 || len(ss.OK) != 0 {
					t.Errorf("subset %s = %+v, want Failed=1 and no counts", s, ss)
				}
			}
			if !strings.Contains(snap.Note, tc.wantNote) {
				t.Errorf("Note = %q, want it to contain %q", snap.Note, tc.wantNote)
			}
		})
	}
	t.Run("a custom query by workload label, without latency", func(t *testing.T) {
		q := Queries{
			Requests:    `sum by (destination_workload, response_code) (istio_requests_total{reporter="destination",destination_service="{{.Host}}",destination_workload_namespace="{{.Namespace}}"})`,
			SubsetLabel: "destination_workload",
		}
		snap, err := (&Prometheus{API: src.API, Queries: q}).Read(context.Background(),
			Request{Host: reviews, Namespace: "default", Subsets: map[string][]corev1.Pod{"reviews-v2": nil}})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		got := snap.Subsets["reviews-v2"].OK[PrometheusIdentity]
		if w := (traffic.Counts{Requests: 14, Rq2xx: 4, Rq5xx: 9}); !reflect.DeepEqual(got, w) {
			t.Errorf("counts = %+v, want %+v", got, w)
		}
	})
	t.Run("a broken query is an error", func(t *testing.T) {
		_, err := (&Prometheus{API: src.API, Queries: Queries{Requests: `sum by (( istio_requests_total`}}).Read(context.Background(), req)
		if err == nil || !strings.Contains(err.Error(), "querying requests") {
			t.Errorf("Read error = %v, want a query error", err)
		}
	})
}

// waitFor polls Read until it returns want for every subset (Prometheus scrapes every
// second) and fails with the last difference after 30 s.
func waitFor(t *testing.T, src *Prometheus, req Request, phase string, want map[string]traffic.Counts) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		snap, err := src.Read(context.Background(), req)
		if err != nil {
			last = err.Error()
		} else {
			last = ""
			for s, w := range want {
				ss := snap.Subsets[s]
				if got := ss.OK[PrometheusIdentity]; ss.Failed != 0 || len(ss.OK) != 1 || !reflect.DeepEqual(got, w) {
					last += fmt.Sprintf("\nsubset %s: Failed=%d OK=%+v\n          want %+v", s, ss.Failed, ss.OK, w)
				}
			}
			if last == "" && len(snap.Subsets) == len(want) {
				return
			}
			last += "\nnote: " + snap.Note
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: Prometheus never returned the served counts; last read:%s", phase, last)
}

// startPrometheus runs a real Prometheus (e2e/promserver) scraping targets every second
// and returns its address.
func startPrometheus(t *testing.T, targets []string) string {
	t.Helper()
	srv, err := promserver.Start(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	if err := srv.SetTargets("sidecars", targets); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(srv.URL, "http://")
}
