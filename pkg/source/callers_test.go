package source

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/spec"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// gatewayPage is an Istio ingress gateway's /stats/prometheus with per-cluster stats
// included: class and code series of one metric name, as Istio emits them.
const gatewayPage = `# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 90
envoy_cluster_upstream_rq{response_code_class="5xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 90
envoy_cluster_upstream_rq{response_code="503",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 7
envoy_cluster_upstream_rq{response_code_class="5xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 3
envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 7
envoy_cluster_upstream_rq{response_code="503",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 3
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|ratings.default.svc.cluster.local"} 500
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080||reviews.default.svc.cluster.local"} 1000
`

// gatewayV1Only has sent to v1 only: with usedonly, v2's cluster stats are absent.
const gatewayV1Only = `envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 5
envoy_cluster_upstream_rq{response_code="200",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 5
`

// gatewayTrimmed is what a gateway with Istio's default stats trimming answers to the
// filtered URL: nothing for the host's clusters (here: only its own control-plane cluster).
const gatewayTrimmed = `# TYPE envoy_cluster_upstream_rq counter
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="xds-grpc"} 2
envoy_cluster_upstream_rq{response_code="200",cluster_name="xds-grpc"} 2
`

// gatewayIstioOnly has no cluster stats but Istio's standard source-side metric.
const gatewayIstioOnly = `istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v1",response_code="200"} 40
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="503"} 2
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",response_code="200"} 6
`

// gatewayGRPC is a gateway in front of a gRPC service: Envoy counts the calls that failed
// with INTERNAL as 200 in its cluster stats; Istio's metrics carry the gRPC status.
const gatewayGRPC = `envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|reviews.default.svc.cluster.local"} 50
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 10
envoy_cluster_upstream_rq{response_code_class="5xx",cluster_name="outbound|9080|v2|reviews.default.svc.cluster.local"} 1
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v1",request_protocol="grpc",response_code="200",grpc_response_status="0"} 50
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="0"} 6
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="v2",request_protocol="grpc",response_code="200",grpc_response_status="13"} 4
istio_requests_total{reporter="source",destination_service="reviews.default.svc.cluster.local",destination_version="unknown",request_protocol="grpc",response_code="503",grpc_response_status="14"} 1
`

// gatewayOtherSubsets names only a subset the rollout does not know.
const gatewayOtherSubsets = `envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v9|reviews.default.svc.cluster.local"} 4
`

func TestCallersRead(t *testing.T) {
	pages := map[string]*page{
		"full":   {body: gatewayPage},
		"v1only": {body: gatewayV1Only},
		"trim1":  {body: gatewayTrimmed},
		"trim2":  {body: ""},
		"istio":  {body: gatewayIstioOnly},
		"other":  {body: gatewayOtherSubsets},
		"grpc":   {body: gatewayGRPC},
		"broken": {status: http.StatusInternalServerError},
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
	gw := map[string]string{"app": "istio-ingressgateway"}
	caller := func(name string) corev1.Pod { return testPod("istio-system", name, ip[name], gw) }
	// Pods that must not be read: were they scraped, they would add OK or Failed entries.
	distractors := func() []corev1.Pod {
		notReady := caller("full")
		notReady.Name, notReady.UID = "not-ready", "uid-not-ready"
		notReady.Status.Conditions[0].Status = corev1.ConditionFalse
		noIP := caller("broken")
		noIP.Name, noIP.UID, noIP.Status.PodIP = "no-ip", "uid-no-ip", ""
		deleting := caller("broken")
		deleting.Name, deleting.UID = "deleting", "uid-deleting"
		deleting.DeletionTimestamp, deleting.Finalizers = &metav1.Time{Time: time.Now()}, []string{"x"}
		otherNS := testPod("default", "other-ns", ip["broken"], gw)
		otherLabels := testPod("istio-system", "other-labels", ip["broken"], map[string]string{"app": "egress"})
		return []corev1.Pod{notReady, noIP, deleting, otherNS, otherLabels}
	}()
	v := func(names ...string) []corev1.Pod { return append(distractors, pods(caller, names)...) }

	tests := map[string]struct {
		callers    []corev1.Pod
		subsets    []string
		namespace  string // stats-from namespace
		wantOK     map[string]map[string]traffic.Counts
		wantFailed map[string]int
		wantNote   []string // substrings; none means Note == ""
	}{
		"cluster stats of two gateways, a subset not sent to yet is zero": {
			callers: v("full", "v1only"), subsets: []string{"v1", "v2"}, namespace: "istio-system",
			wantOK: map[string]map[string]traffic.Counts{
				"v1": {"full": {Requests: 100, Rq2xx: 90, Rq5xx: 10}, "v1only": {Requests: 5, Rq2xx: 5}},
				"v2": {"full": {Requests: 10, Rq2xx: 7, Rq5xx: 3}, "v1only": {}},
			},
			wantFailed: map[string]int{"v1": 0, "v2": 0},
		},
		"a caller that cannot be read is failed in every subset": {
			callers: v("full", "broken"), subsets: []string{"v1", "v2"}, namespace: "istio-system",
			wantOK: map[string]map[string]traffic.Counts{
				"v1": {"full": {Requests: 100, Rq2xx: 90, Rq5xx: 10}},
				"v2": {"full": {Requests: 10, Rq2xx: 7, Rq5xx: 3}},
			},
			wantFailed: map[string]int{"v1": 1, "v2": 1},
			wantNote:   []string{"1 of 2 caller pods could not be read", "500"},
		},
		"callers expose no stats for the host: missing data with a precise note": {
			callers: v("trim1", "trim2"), subsets: []string{"v1", "v2"}, namespace: "istio-system",
			wantOK:     map[string]map[string]traffic.Counts{"v1": {}, "v2": {}},
			wantFailed: map[string]int{"v1": 2, "v2": 2},
			wantNote: []string{"2 caller pod(s)", `"app=istio-ingressgateway"`, "istio-system", "expose no stats",
				"outbound|<port>|<subset>|" + reviews, "missing, not zero", "sidecar.istio.io/statsInclusionPrefixes",
				"proxyStatsMatcher", `cluster\\.outbound\\|[0-9]+\\|[^|]*\\|reviews\\.default\\.svc\\.cluster\\.local.*`},
		},
		"no stats from one and no answer from the other: all failed, both said": {
			callers: v("trim1", "broken"), subsets: []string{"v1"}, namespace: "istio-system",
			wantOK:     map[string]map[string]traffic.Counts{"v1": {}},
			wantFailed: map[string]int{"v1": 2},
			wantNote:   []string{"1 of 2 caller pods could not be read", "1 caller pod(s)", "expose no stats"},
		},
		"callers name only unknown subsets": {
			callers: v("other"), subsets: []string{"v1", "v2"}, namespace: "istio-system",
			wantOK:     map[string]map[string]traffic.Counts{"v1": {}, "v2": {}},
			wantFailed: map[string]int{"v1": 1, "v2": 1},
			wantNote:   []string{"report " + reviews + " only under subsets v9, none of the rollout's subsets v1, v2", "missing, not zero"},
		},
		"istio_requests_total reporter=source when there are no cluster stats": {
			callers: v("istio"), subsets: []string{"v1", "v2"}, namespace: "istio-system",
			wantOK: map[string]map[string]traffic.Counts{
				"v1": {"istio": {Requests: 40, Rq2xx: 40}},
				"v2": {"istio": {Requests: 8, Rq2xx: 6, Rq5xx: 2}},
			},
			wantFailed: map[string]int{"v1": 0, "v2": 0},
		},
		"gRPC failures counted as 2xx by the cluster stats move to 5xx": {
			callers: v("grpc"), subsets: []string{"v1", "v2"}, namespace: "istio-system",
			wantOK: map[string]map[string]traffic.Counts{
				"v1": {"grpc": {Requests: 50, Rq2xx: 50}},
				"v2": {"grpc": {Requests: 11, Rq2xx: 6, Rq5xx: 5}},
			},
			wantFailed: map[string]int{"v1": 0, "v2": 0},
		},
		"no subsets named: every reported subset": {
			callers: v("full"), namespace: "istio-system",
			wantOK: map[string]map[string]traffic.Counts{
				"v1": {"full": {Requests: 100, Rq2xx: 90, Rq5xx: 10}},
				"v2": {"full": {Requests: 10, Rq2xx: 7, Rq5xx: 3}},
			},
			wantFailed: map[string]int{"v1": 0, "v2": 0},
		},
		"namespace defaults to the Service's": {
			callers: []corev1.Pod{testPod("default", "full", ip["full"], gw), caller("broken")}, subsets: []string{"v2"},
			wantOK:     map[string]map[string]traffic.Counts{"v2": {"full": {Requests: 10, Rq2xx: 7, Rq5xx: 3}}},
			wantFailed: map[string]int{"v2": 0},
		},
		"no caller matches": {
			callers: distractors, subsets: []string{"v1"}, namespace: "istio-system",
			wantOK:     map[string]map[string]traffic.Counts{"v1": {}},
			wantFailed: map[string]int{"v1": 0},
			wantNote:   []string{"no Ready pod with an IP matches stats-from", "istio-system"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			objs := make([]client.Object, len(tc.callers))
			for i := range tc.callers {
				objs[i] = &tc.callers[i]
			}
			c := &Callers{
				Reader:  fake.NewClientBuilder().WithObjects(objs...).Build(),
				Scraper: envoy.NewScraper(envoy.ScrapeOptions{Timeout: time.Second}),
				Port:    port,
			}
			req := Request{Host: reviews, Namespace: "default", Subsets: map[string][]corev1.Pod{},
				StatsFrom: &spec.StatsFrom{Selector: labels.SelectorFromSet(gw), Namespace: tc.namespace}}
			for _, s := range tc.subsets {
				req.Subsets[s] = nil
			}
			snap, err := c.Read(context.Background(), req)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkSnapshot(t, snap, tc.wantOK, tc.wantFailed)
			if len(tc.wantNote) == 0 && snap.Note != "" {
				t.Errorf("Note = %q, want none", snap.Note)
			}
			for _, w := range tc.wantNote {
				if !strings.Contains(snap.Note, w) {
					t.Errorf("Note = %q\nlacks %q", snap.Note, w)
				}
			}
		})
	}
	want := envoy.CallerStatsURL("")
	for _, q := range pages["full"].seen() {
		if "?"+q != want {
			t.Errorf("caller scraped with query %q, want the host-independent %q", q, want)
		}
	}
}

func pods(mk func(string) corev1.Pod, names []string) []corev1.Pod {
	out := make([]corev1.Pod, len(names))
	for i, n := range names {
		out[i] = mk(n)
	}
	return out
}

func TestCallersReadErrors(t *testing.T) {
	sel := &spec.StatsFrom{Selector: labels.SelectorFromSet(labels.Set{"app": "gw"})}
	listFails := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return errors.New("forbidden")
		},
	}).Build()
	scraper := envoy.NewScraper(envoy.ScrapeOptions{})
	tests := map[string]struct {
		c    *Callers
		sf   *spec.StatsFrom
		want string
	}{
		"no stats-from":     {&Callers{Reader: listFails, Scraper: scraper}, nil, "no stats-from selector"},
		"no reader":         {&Callers{Scraper: scraper}, sel, "no pod reader"},
		"listing forbidden": {&Callers{Reader: listFails, Scraper: scraper}, sel, "forbidden"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := tc.c.Read(context.Background(), Request{Host: reviews, Namespace: "default", StatsFrom: tc.sf})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// ReadAhead starts the next page of each caller the reader read last (none without
// marks, none while a newer page than the reader's last is there), and the reader's
// recheck then takes those pages as they landed, without a request of its own.
func TestCallersReadAhead(t *testing.T) {
	a, b := &counting{}, &counting{}
	a.set(manyHosts(1, 1))
	b.set(manyHosts(1, 1))
	ips, port := standIns(t, a, b)
	gw := map[string]string{"app": "gw"}
	callers := []corev1.Pod{testPod("istio-system", "gw-a", ips[0], gw), testPod("istio-system", "gw-b", ips[1], gw)}
	c := &Callers{Scraper: envoy.NewScraper(envoy.ScrapeOptions{Timeout: 2 * time.Second}), Port: port}
	var seen PageMarks
	ctx := context.Background()
	requests := func() [2]int64 { return [2]int64{a.n.Load(), b.n.Load()} }
	for _, r := range c.scrape(ctx, Request{Host: hostN(0), MaxAge: DefaultPageMaxAge, Seen: &seen}, callers) {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	// A reader whose last pages are older than the callers' newest has new pages waiting.
	var behind PageMarks
	var urls []string
	var marks []time.Time
	for url, last := range seen.marks() {
		urls, marks = append(urls, url), append(marks, last.Add(-time.Nanosecond))
	}
	behind.replace(urls, marks)
	c.ReadAhead(Request{Host: hostN(0)})
	c.ReadAhead(Request{Host: hostN(0), Seen: &behind})
	if got := requests(); got != [2]int64{1, 1} {
		t.Fatalf("ReadAhead without marks, then for a reader behind the newest pages: requests %v, want [1 1]", got)
	}
	a.set(manyHosts(1, 2))
	b.set(manyHosts(1, 3))
	a.mu.Lock()
	a.delay = 50 * time.Millisecond // a's page read ahead is in flight a while
	a.mu.Unlock()
	c.ReadAhead(Request{Host: hostN(0), Seen: &seen})
	deadline := time.Now().Add(10 * time.Second)
	for url := range seen.marks() {
		for {
			// While the request is in flight, Cached serves the reader's last page again.
			if _, at, ok := c.Pages.Cached(url, hostN(0), AnyAge, seen.last(url)); ok && at.After(seen.last(url)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page read ahead of %s never landed", url)
			}
			time.Sleep(time.Millisecond)
		}
	}
	reads := c.scrape(ctx, Request{Host: hostN(0), MaxAge: time.Nanosecond, Seen: &seen, Recheck: true}, callers)
	for i, want := range []uint64{2, 3} {
		if r := reads[i]; r.err != nil || r.rep.Subsets["v2"].Rq5xx != want {
			t.Errorf("recheck, caller %d: v2 5xx %d (%v), want %d from the page read ahead", i, r.rep.Subsets["v2"].Rq5xx, r.err, want)
		}
	}
	if got := requests(); got != [2]int64{2, 2} {
		t.Errorf("requests %v, want [2 2]: one read ahead per caller, none by the recheck", got)
	}
}
