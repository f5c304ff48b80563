package dataplane

import (
	"context"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/spec"
)

// The captures come from the mesh lab's real istiod (see e2e/meshlab/testdata/README.md):
// istiod's configuration for gateway-0.meshlab at push version 2026-11-23T00:03:36Z/90
// routes reviews 95/5, and /debug/syncz shows that version's route push ACKed.
const (
	capturedVersion = "2026-11-23T00:03:36Z/90"
	ackedNonce      = "2026-11-23T00:03:36Z/907e40733c-8184-43fa-988b-5507dbd5a9e0"
	olderNonce      = "2026-11-23T00:03:36Z/8912345678-8184-43fa-988b-5507dbd5a9e0"
	newerNonce      = "2026-11-23T00:03:37Z/91aaaaaaaa-8184-43fa-988b-5507dbd5a9e0"
)

func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "e2e", "meshlab", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeIstiod serves /debug/syncz and /debug/config_dump on ip:15014 from settable bodies.
type fakeIstiod struct {
	mu          sync.Mutex
	syncz, dump string
	status      int // non-zero: every answer has this status
	proxies     []string
}

func (f *fakeIstiod) set(syncz, dump string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.syncz, f.dump = syncz, dump
}

func (f *fakeIstiod) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	switch r.URL.Path {
	case "/debug/syncz":
		_, _ = w.Write([]byte(f.syncz))
	case "/debug/config_dump":
		f.proxies = append(f.proxies, r.URL.Query().Get("proxyID"))
		_, _ = w.Write([]byte(f.dump))
	default:
		http.NotFound(w, r)
	}
}

func startIstiod(t *testing.T, ip string, f *fakeIstiod) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "15014"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := &http.Server{Handler: f}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}

// syncz renders one proxy's entry with the given route nonces.
func syncz(proxy, sent, acked string) string {
	return `[{"cluster_id":"Kubernetes","proxy":"` + proxy + `","proxy_type":"sidecar","route_sent":"` + sent + `","route_acked":"` + acked + `"}]`
}

func TestIstiodCheck(t *testing.T) {
	dump := testdata(t, "istiod-config_dump-gateway-0.json")
	tests := map[string]struct {
		syncz, dump string
		want        int32
		down        bool // the first replica answers 500; the proxy is at the second
		wantApplied int
		wantFailed  int
		wantSeen    map[string]uint32
		wantErr     bool
	}{
		"captured: 5 % generated and its push ACKed": {
			syncz: testdata(t, "istiod-syncz.json"), dump: dump, want: 5,
			wantApplied: 1, wantSeen: map[string]uint32{"gateway-0": 5},
		},
		"ACKed push older than the config with the weight": {
			syncz: syncz("gateway-0.meshlab", olderNonce, olderNonce), dump: dump, want: 5,
			wantSeen: map[string]uint32{"gateway-0": 5},
		},
		"newer push sent, not yet ACKed": {
			syncz: syncz("gateway-0.meshlab", newerNonce, ackedNonce), dump: dump, want: 5,
			wantSeen: map[string]uint32{"gateway-0": 5},
		},
		"ACKed push newer than the config with the weight": {
			syncz: syncz("gateway-0.meshlab", newerNonce, newerNonce), dump: dump, want: 5,
			wantApplied: 1, wantSeen: map[string]uint32{"gateway-0": 5},
		},
		"istiod generates another weight": {
			syncz: syncz("gateway-0.meshlab", ackedNonce, ackedNonce), dump: dump, want: 25,
			wantSeen: map[string]uint32{"gateway-0": 5},
		},
		"proxy not connected to istiod": {
			syncz: syncz("other-0.meshlab", ackedNonce, ackedNonce), dump: dump, want: 5,
			wantFailed: 1, wantSeen: map[string]uint32{},
		},
		"garbage config dump": {
			syncz: syncz("gateway-0.meshlab", ackedNonce, ackedNonce), dump: "<html>", want: 5,
			wantFailed: 1, wantSeen: map[string]uint32{},
		},
		"nonce without a UUID": {
			syncz: syncz("gateway-0.meshlab", capturedVersion, capturedVersion), dump: dump, want: 5,
			wantFailed: 1, wantSeen: map[string]uint32{},
		},
		"garbage syncz": {
			syncz: "not json", dump: dump, want: 5,
			wantFailed: 1, wantSeen: map[string]uint32{}, wantErr: true,
		},
		"one replica down, the proxy at the other": {
			syncz: testdata(t, "istiod-syncz.json"), dump: dump, want: 5, down: true,
			wantApplied: 1, wantSeen: map[string]uint32{"gateway-0": 5},
		},
	}
	n := 0
	for name, tc := range tests {
		n++
		t.Run(name, func(t *testing.T) {
			good := &fakeIstiod{}
			good.set(tc.syncz, tc.dump)
			urls := []string{startIstiod(t, "127.0.132."+itoa(2*n), good)}
			if tc.down {
				urls = append([]string{startIstiod(t, "127.0.132."+itoa(2*n+1), &fakeIstiod{status: 500})}, urls...)
			}
			d := &Istiod{Reader: fakeCallers("gateway-0"), Scraper: envoy.NewScraper(envoy.ScrapeOptions{Timeout: time.Second}), URLs: urls}
			res, err := d.Check(context.Background(), "meshlab", gatewayFrom(), host, "v2", tc.want)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Check error = %v, want error %v", err, tc.wantErr)
			}
			if res.Callers != 1 || res.Applied != tc.wantApplied || res.Failed != tc.wantFailed || !equalSeen(res.Seen, tc.wantSeen) {
				t.Fatalf("Check = %+v, want applied %d failed %d seen %v", res, tc.wantApplied, tc.wantFailed, tc.wantSeen)
			}
			for _, p := range good.proxies {
				if p != "gateway-0.meshlab" {
					t.Errorf("config dump asked for proxy %q", p)
				}
			}
		})
	}
}

// TestIstiodRemembersTheOldestVersion: istiod showed the weight at version 90 while the
// proxy's ACK was still older; later the global push version moves on (95) without a push
// to this proxy, which then ACKs 90. That is applied, although 90 < 95.
func TestIstiodRemembersTheOldestVersion(t *testing.T) {
	dump := testdata(t, "istiod-config_dump-gateway-0.json")
	f := &fakeIstiod{}
	f.set(syncz("gateway-0.meshlab", olderNonce, olderNonce), dump)
	d := &Istiod{Reader: fakeCallers("gateway-0"), Scraper: envoy.NewScraper(envoy.ScrapeOptions{Timeout: time.Second}),
		URLs: []string{startIstiod(t, "127.0.132.100", f)}}
	check := func() Result {
		t.Helper()
		res, err := d.Check(context.Background(), "meshlab", gatewayFrom(), host, "v2", 5)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := check(); res.Applied != 0 {
		t.Fatalf("applied before the ACK: %+v", res)
	}
	f.set(syncz("gateway-0.meshlab", ackedNonce, ackedNonce), strings.ReplaceAll(dump, capturedVersion, "2026-11-23T00:03:40Z/95"))
	if res := check(); !res.Done() {
		t.Fatalf("ACK of the first version with the weight not confirmed: %+v", res)
	}
	// A different wanted weight starts from scratch.
	if res, _ := d.Check(context.Background(), "meshlab", gatewayFrom(), host, "v2", 25); res.Applied != 0 {
		t.Fatalf("weight 25 confirmed from weight 5's history: %+v", res)
	}
}

func TestPushVersions(t *testing.T) {
	tests := map[string]struct {
		nonce   string
		want    pushVersion
		wantErr bool
	}{
		"captured nonce":          {nonce: ackedNonce, want: pushVersion{at: time.Date(2026, 11, 23, 0, 3, 36, 0, time.UTC), count: 90}},
		"UUID starting in digits": {nonce: "2026-11-23T00:03:36Z/7123e4567-e89b-12d3-a456-426614174000", want: pushVersion{at: time.Date(2026, 11, 23, 0, 3, 36, 0, time.UTC), count: 7}},
		"no UUID":                 {nonce: capturedVersion, wantErr: true},
		"no counter":              {nonce: "2026-11-23T00:03:36Z/123e4567-e89b-12d3-a456-426614174000", wantErr: true},
		"bad time":                {nonce: "yesterday/7123e4567-e89b-12d3-a456-426614174000", wantErr: true},
		"empty":                   {nonce: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := nonceVersion(tc.nonce)
			if (err != nil) != tc.wantErr || (err == nil && (!got.at.Equal(tc.want.at) || got.count != tc.want.count)) {
				t.Fatalf("nonceVersion(%q) = %+v, %v; want %+v, error %v", tc.nonce, got, err, tc.want, tc.wantErr)
			}
		})
	}
	a, b := pushVersion{at: time.Unix(10, 0), count: 9}, pushVersion{at: time.Unix(10, 0), count: 10}
	c := pushVersion{at: time.Unix(11, 0), count: 1}
	if !a.before(b) || b.before(a) || !b.before(c) || c.before(a) || a.before(a) {
		t.Fatal("push version order is wrong")
	}
}

func TestIstiodNeedsURLsAndCallers(t *testing.T) {
	d := &Istiod{Reader: fake.NewClientBuilder().Build(), Scraper: envoy.NewScraper(envoy.ScrapeOptions{})}
	if _, err := d.Check(context.Background(), "ns", gatewayFrom(), host, "v2", 5); err == nil {
		t.Fatal("Check without istiod URLs should fail")
	}
	d.URLs = []string{"http://127.0.132.250:1"}
	if _, err := d.Check(context.Background(), "ns", nil, host, "v2", 5); err == nil {
		t.Fatal("Check without stats-from should fail")
	}
	if res, _ := d.Check(context.Background(), "ns", gatewayFrom(), host, "v2", 5); res.Done() {
		t.Fatalf("no callers must never count as confirmed: %+v", res)
	}
}

func fakeCallers(names ...string) client.Reader {
	var objs []client.Object
	for i, n := range names {
		objs = append(objs, caller(n, "127.0.133."+itoa(i+1)))
	}
	return fake.NewClientBuilder().WithObjects(objs...).Build()
}

func gatewayFrom() *spec.StatsFrom {
	return &spec.StatsFrom{Selector: labels.SelectorFromSet(labels.Set{"app": "gateway"})}
}

func equalSeen(a, b map[string]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzNonceVersion: any string either fails or yields a version whose nonce carried a
// 36-character UUID after it; nothing panics.
func FuzzNonceVersion(f *testing.F) {
	for _, s := range []string{ackedNonce, olderNonce, newerNonce, capturedVersion, "", "/", "2026-11-23T00:03:36Z/",
		"2026-11-23T00:03:36+02:00/1123e4567-e89b-12d3-a456-426614174000",
		"0000-01-01T0:00:00+00:10/000000000-0000-0000-0000-000000000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, nonce string) {
		v, err := nonceVersion(nonce)
		if err != nil {
			return
		}
		if len(nonce) <= 36 {
			t.Fatalf("nonceVersion(%q) = %+v without a UUID", nonce, v)
		}
		if next := (pushVersion{at: v.at, count: v.count + 1}); v.count < math.MaxUint64 && (!v.before(next) || next.before(v)) {
			t.Fatalf("nonceVersion(%q) = %+v does not order below its successor", nonce, v)
		}
		if again, err := nonceVersion(nonce); err != nil || !again.at.Equal(v.at) || again.count != v.count {
			t.Fatalf("nonceVersion(%q) is not deterministic", nonce)
		}
	})
}
