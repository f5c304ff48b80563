package dataplane

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/spec"
)

const host = "reviews.meshlab.svc.cluster.local"

// serveDump serves a captured config_dump (from the mesh lab's real xDS client, see
// e2e/meshlab/testdata/README.md) on ip:port, or garbage when file is "".
func serveDump(t *testing.T, ip string, port int, file string) {
	t.Helper()
	var body []byte
	if file != "" {
		var err error
		if body, err = os.ReadFile(filepath.Join("..", "..", "e2e", "meshlab", "testdata", file)); err != nil {
			t.Fatal(err)
		}
	} else {
		body = []byte("<html>not a config dump</html>")
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(body) })}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func caller(name, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "meshlab", Labels: map[string]string{"app": "gateway"}},
		Status:     corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func TestCheck(t *testing.T) {
	const port = 15911
	tests := map[string]struct {
		dumps       map[string]string // caller IP → testdata file ("" = garbage)
		want        int32
		wantApplied int
		wantFailed  int
		wantDone    bool
	}{
		"both callers at 90/10, want 10":     {dumps: map[string]string{"127.0.131.1": "caller-config_dump.json", "127.0.131.2": "caller-config_dump.json"}, want: 10, wantApplied: 2, wantDone: true},
		"one caller still at 10, want 0":     {dumps: map[string]string{"127.0.131.3": "caller-config_dump.json", "127.0.131.4": "caller-config_dump-v1-only.json"}, want: 0, wantApplied: 1},
		"v2 dropped means 0":                 {dumps: map[string]string{"127.0.131.5": "caller-config_dump-v1-only.json"}, want: 0, wantApplied: 1, wantDone: true},
		"garbage is unconfirmed, not passed": {dumps: map[string]string{"127.0.131.6": "caller-config_dump-v1-only.json", "127.0.131.7": ""}, want: 0, wantApplied: 1, wantFailed: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var objs []client.Object
			i := 0
			for ip, file := range tc.dumps {
				serveDump(t, ip, port, file)
				objs = append(objs, caller("gateway-"+strconv.Itoa(i), ip))
				i++
			}
			c := &Confirmer{
				Reader:  fake.NewClientBuilder().WithObjects(objs...).Build(),
				Scraper: envoy.NewScraper(envoy.ScrapeOptions{Timeout: time.Second}),
				Port:    port,
			}
			from := &spec.StatsFrom{Selector: labels.SelectorFromSet(labels.Set{"app": "gateway"})}
			res, err := c.Check(context.Background(), "meshlab", from, host, "v2", tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if res.Callers != len(tc.dumps) || res.Applied != tc.wantApplied || res.Failed != tc.wantFailed || res.Done() != tc.wantDone {
				t.Fatalf("Check = %+v (done %v), want applied %d failed %d done %v", res, res.Done(), tc.wantApplied, tc.wantFailed, tc.wantDone)
			}
		})
	}
}

func TestCheckNeedsCallers(t *testing.T) {
	c := &Confirmer{Reader: fake.NewClientBuilder().Build(), Scraper: envoy.NewScraper(envoy.ScrapeOptions{})}
	if _, err := c.Check(context.Background(), "ns", nil, host, "v2", 5); err == nil {
		t.Fatal("Check without stats-from should fail")
	}
	res, err := c.Check(context.Background(), "ns", &spec.StatsFrom{Selector: labels.Everything()}, host, "v2", 5)
	if err != nil || res.Done() {
		t.Fatalf("no callers must never count as confirmed: %+v, %v", res, err)
	}
}
