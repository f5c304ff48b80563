package source

import (
	"context"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

func TestDestinationRead(t *testing.T) {
	fixture, err := os.ReadFile("../../testdata/envoy/istio-1.11-sidecar-merged-stats-prometheus.txt")
	if err != nil {
		t.Fatal(err)
	}
	v1a := []obs{{"200", 5, 30}}
	v2a := []obs{{"200", 7, 30}, {"503", 3, 4}, {"0", 1, 2}}
	pages := map[string]*page{
		"fixture":  {body: string(fixture)}, // reviews v1: one 200 taking 1050 ms
		"v1a":      {body: destPage(reviews, "v1", v1a...)},
		"v2a":      {body: destPage(reviews, "v2", v2a...)},
		"error":    {status: http.StatusServiceUnavailable, body: "no healthy upstream"},
		"garbage":  {body: "\x00\x01\x02 this is not a stats page"},
		"empty":    {body: "\n"}, // usedonly before the first request: nothing to send
		"ratings":  {body: destPage("ratings.default.svc.cluster.local", "v1", obs{"200", 9, 3})},
		"too slow": {body: destPage(reviews, "v1", v1a...), delay: 3 * time.Second},
	}
	var names []string
	var hs []http.Handler
	for n, p := range pages {
		names, hs = append(names, n), append(hs, p)
	}
	ips, port := standIns(t, hs...)
	ip := map[string]string{}
	for i, n := range names {
		ip[n] = ips[i]
	}
	pod := func(name string) corev1.Pod { return testPod("default", name, ip[name], nil) }

	tests := map[string]struct {
		subsets    map[string][]string // subset → stand-in names
		wantOK     map[string]map[string]traffic.Counts
		wantFailed map[string]int
	}{
		"two subsets, counts per pod": {
			subsets: map[string][]string{"v1": {"fixture", "v1a"}, "v2": {"v2a"}},
			wantOK: map[string]map[string]traffic.Counts{
				"v1": {
					"fixture": {Requests: 1, Rq2xx: 1, Latency: traffic.Histogram{
						Bounds: istioBounds, Counts: []uint64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1}, Count: 1, Sum: 1050}},
					"v1a": want(v1a...),
				},
				"v2": {"v2a": want(v2a...)},
			},
			wantFailed: map[string]int{"v1": 0, "v2": 0},
		},
		"unreadable pods are failed, not zero": {
			subsets:    map[string][]string{"v1": {"v1a", "error", "garbage"}, "v2": {"too slow"}},
			wantOK:     map[string]map[string]traffic.Counts{"v1": {"v1a": want(v1a...)}, "v2": {}},
			wantFailed: map[string]int{"v1": 2, "v2": 1},
		},
		"an empty page and another host's series are zero traffic": {
			subsets:    map[string][]string{"v2": {"empty", "ratings"}, "v3": nil},
			wantOK:     map[string]map[string]traffic.Counts{"v2": {"empty": {}, "ratings": {}}, "v3": {}},
			wantFailed: map[string]int{"v2": 0, "v3": 0},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := &Destination{Scraper: envoy.NewScraper(envoy.ScrapeOptions{Timeout: 500 * time.Millisecond}), Port: port}
			req := Request{Host: reviews, Namespace: "default", Subsets: map[string][]corev1.Pod{}}
			for s, pods := range tc.subsets {
				req.Subsets[s] = nil
				for _, n := range pods {
					req.Subsets[s] = append(req.Subsets[s], pod(n))
				}
			}
			snap, err := d.Read(context.Background(), req)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkSnapshot(t, snap, tc.wantOK, tc.wantFailed)
		})
	}
	for _, n := range []string{"v1a", "fixture"} {
		for _, q := range pages[n].seen() {
			if !strings.HasPrefix(q, "usedonly&filter=") || !strings.Contains(q, "istio_request") {
				t.Errorf("%s was scraped with query %q, want usedonly and an istio_request filter", n, q)
			}
		}
	}
}

// checkSnapshot compares snap with the expected counts per subset, keyed by pod name.
func checkSnapshot(t *testing.T, snap Snapshot, wantOK map[string]map[string]traffic.Counts, wantFailed map[string]int) {
	t.Helper()
	if len(snap.Subsets) != len(wantFailed) {
		t.Errorf("subsets %v, want %v", keys(snap.Subsets), keys(wantFailed))
	}
	for s, f := range wantFailed {
		got, ok := snap.Subsets[s]
		if !ok {
			t.Errorf("subset %s missing", s)
			continue
		}
		if got.Failed != f {
			t.Errorf("subset %s: Failed = %d, want %d", s, got.Failed, f)
		}
		byName := map[string]traffic.Counts{}
		for id, c := range got.OK {
			name, _, _ := strings.Cut(id, "/")
			byName[name] = c
		}
		if !reflect.DeepEqual(byName, wantOK[s]) {
			t.Errorf("subset %s: OK =\n%+v\nwant\n%+v", s, byName, wantOK[s])
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPodIdentity(t *testing.T) {
	base := testPod("default", "reviews-v2-abc", "10.0.0.7", nil)
	base.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app"}, {Name: "istio-proxy", RestartCount: 1}}
	tests := map[string]struct {
		change func(p *corev1.Pod)
		same   bool
	}{
		"unchanged":           {func(*corev1.Pod) {}, true},
		"proxy restarted":     {func(p *corev1.Pod) { p.Status.ContainerStatuses[1].RestartCount++ }, false},
		"recreated same name": {func(p *corev1.Pod) { p.UID = "other" }, false},
		"new IP":              {func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.8" }, false},
		"labels changed":      {func(p *corev1.Pod) { p.Labels = map[string]string{"x": "y"} }, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := base.DeepCopy()
			tc.change(p)
			id := PodIdentity(p)
			if got := id == PodIdentity(&base); got != tc.same {
				t.Errorf("PodIdentity %q vs %q: same = %v, want %v", id, PodIdentity(&base), got, tc.same)
			}
			if name, _, _ := strings.Cut(id, "/"); name != p.Name {
				t.Errorf("identity %q does not start with the pod name", id)
			}
		})
	}
}
