package meshlab

import (
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// TestLabRollout runs a real istiod against a real API server and checks on real RPCs
// that a 90/10 split is honoured and that moving all traffic to v1 empties v2 within 2 s.
// It needs SLUICE_MESHLAB=1 and KUBEBUILDER_ASSETS (e2e/k8sbins/build.sh); istiod comes
// from SLUICE_ISTIOD_BIN or is built by e2e/istiodbin/build.sh. SLUICE_MESHLAB_CAPTURE=1
// rewrites testdata/.
func TestLabRollout(t *testing.T) {
	lab := startLab(t, map[string]int32{"v1": 90, "v2": 10})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	caller, host := lab.Callers[0], lab.Host()
	v1, v2 := "outbound|9080|v1|"+host, "outbound|9080|v2|"+host

	if _, err := caller.WaitForWeights(ctx, host, map[string]uint32{"v1": 90, "v2": 10}); err != nil {
		t.Fatalf("%v\nistiod endpoints: %s", err, debugPage(ctx, lab, "endpointShardz"))
	}
	before := caller.Counts()
	time.Sleep(10 * time.Second)
	after := caller.Counts()
	n1, n2 := after[v1].Requests-before[v1].Requests, after[v2].Requests-before[v2].Requests
	n := n1 + n2
	if n < 1000 {
		t.Fatalf("only %d calls reached v1/v2 in 10 s at 200/s (counts %v, unrouted %d)", n, after, caller.Unrouted())
	}
	frac := float64(n2) / float64(n)
	tol := 4 * math.Sqrt(0.1*0.9/float64(n))
	t.Logf("90/10: %d calls, v2 share %.4f (±%.4f allowed)", n, frac, tol)
	if math.Abs(frac-0.1) > tol {
		t.Errorf("v2 got %.4f of %d calls, want 0.10 ± %.4f", frac, n, tol)
	}
	var served2 uint64
	for _, b := range lab.BackendsOf("v2") {
		r, _ := b.Served()
		served2 += r
	}
	if served2 < after[v2].Requests {
		t.Errorf("v2 backends served %d calls, caller counted %d to v2", served2, after[v2].Requests)
	}
	for _, code := range []codes.Code{codes.Internal, codes.Unavailable} {
		checkFault(t, ctx, lab, code)
	}
	capture(t, ctx, map[string]string{
		"caller-config_dump.json":             caller.ConfigDumpURL(),
		"caller-config_dump-include_eds.json": caller.ConfigDumpURL() + "?include_eds",
		"caller-stats-prometheus.txt":         caller.StatsURL(),
		"backend-v2-stats-prometheus.txt":     lab.BackendsOf("v2")[0].StatsURL(),
	})

	patched, err := lab.SetWeights(ctx, map[string]int32{"v1": 100, "v2": 0})
	if err != nil {
		t.Fatal(err)
	}
	applied, err := caller.WaitForWeights(ctx, host, map[string]uint32{"v1": 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("patch → client applied: %v", applied.Sub(patched).Round(100*time.Microsecond))
	time.Sleep(3 * time.Second)
	final := caller.Counts()
	if last := final[v2].Last; last.After(patched.Add(2 * time.Second)) {
		t.Errorf("a call reached v2 %v after the patch, want none after 2 s", last.Sub(patched))
	} else {
		t.Logf("patch → last v2 call completed: %v", last.Sub(patched).Round(100*time.Microsecond))
	}
	if got := final[v1].Requests - after[v1].Requests; got < 400 {
		t.Errorf("v1 got only %d calls in the 3 s after the patch", got)
	}

	if n := caller.NACKs(); n != 0 {
		t.Errorf("the client rejected %d xDS responses", n)
	}
	if u := final[Unresolved].Requests; u != 0 {
		t.Errorf("%d calls went to backends in no applied cluster", u)
	}
	capture(t, ctx, map[string]string{"caller-config_dump-v1-only.json": caller.ConfigDumpURL()})
	dump := fetch(t, ctx, caller.ConfigDumpURL())
	rw, err := envoy.ParseConfigDump(dump)
	if err != nil {
		t.Fatal(err)
	}
	if got := envoy.SubsetWeights(rw, host); len(got) != 1 || got["v1"] != 100 {
		t.Errorf("config_dump weights after the patch = %v, want map[v1:100]", got)
	}
}

// startLab starts a lab with 2 pods each of v1 and v2 and one caller at 200 calls/s, or
// skips when the lab cannot run here. SLUICE_MESHLAB_DEBOUNCE sets istiod's debounce.
func startLab(t *testing.T, weights map[string]int32) *Lab {
	t.Helper()
	if os.Getenv("SLUICE_MESHLAB") != "1" {
		t.Skip("set SLUICE_MESHLAB=1 to run the mesh lab (real istiod)")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: export KUBEBUILDER_ASSETS=$(e2e/k8sbins/build.sh)")
	}
	var debounce time.Duration
	if v := os.Getenv("SLUICE_MESHLAB_DEBOUNCE"); v != "" {
		var err error
		if debounce, err = time.ParseDuration(v); err != nil {
			t.Fatalf("SLUICE_MESHLAB_DEBOUNCE: %v", err)
		}
	}
	log.SetLogger(logr.Discard())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	begin := time.Now()
	lab, err := Start(ctx, Config{
		Subsets: []Subset{{Name: "v1", Pods: 2}, {Name: "v2", Pods: 2}},
		Callers: 1, Rate: 200, Weights: weights,
		Istiod: IstiodOptions{BinDir: os.Getenv("SLUICE_ISTIOD_BIN"), Debounce: debounce},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lab.Stop)
	t.Logf("lab up in %v (istiod ready %v after exec, debounce %v)", time.Since(begin).Round(time.Millisecond),
		lab.Istiod.Started.Round(time.Millisecond), cmpOr(os.Getenv("SLUICE_MESHLAB_DEBOUNCE"), "default"))
	return lab
}

// checkFault makes v2 fail every call with code for 2 s and checks that the caller counts
// those failures under v2 only and that v2's destination stats report as many.
func checkFault(t *testing.T, ctx context.Context, lab *Lab, code codes.Code) {
	t.Helper()
	host := lab.Host()
	v1, v2 := "outbound|9080|v1|"+host, "outbound|9080|v2|"+host
	before := lab.Callers[0].Counts()
	for _, b := range lab.BackendsOf("v2") {
		b.SetBehaviour(Behaviour{ErrorRate: 1, ErrorCode: code})
	}
	time.Sleep(2 * time.Second)
	for _, b := range lab.BackendsOf("v2") {
		b.SetBehaviour(Behaviour{})
	}
	time.Sleep(1500 * time.Millisecond) // calls in flight finish (1 s deadline)
	after := lab.Callers[0].Counts()
	errs2, reqs2 := after[v2].Errors-before[v2].Errors, after[v2].Requests-before[v2].Requests
	if errs2 < 20 || errs2 > reqs2 {
		t.Errorf("v2 failed %d of %d calls while every v2 call failed for 2 s", errs2, reqs2)
	}
	if e := after[v1].Errors - before[v1].Errors; e != 0 {
		t.Errorf("v1 had %d errors, want 0", e)
	}
	var dest5xx uint64
	for _, b := range lab.BackendsOf("v2") {
		rep, err := envoy.Parse(fetch(t, ctx, b.StatsURL()), envoy.Query{Host: host, Side: envoy.Destination})
		if err != nil {
			t.Fatal(err)
		}
		dest5xx += rep.Subsets["v2"].Rq5xx
	}
	if dest5xx != after[v2].Errors {
		t.Errorf("v2 destination stats report %d errors, caller counted %d", dest5xx, after[v2].Errors)
	}
	t.Logf("fault %v: v2 failed %d of %d call attempts in 2 s; destination stats agree", code, errs2, reqs2)
}

// TestLabPropagation flips the VirtualService between two splits and logs how long each
// write takes to reach the client (patch accepted → client ACK of the new route).
func TestLabPropagation(t *testing.T) {
	lab := startLab(t, map[string]int32{"v1": 100})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	caller, host := lab.Callers[0], lab.Host()
	if _, err := caller.WaitForWeights(ctx, host, map[string]uint32{"v1": 100}); err != nil {
		t.Fatal(err)
	}
	splits := []map[string]int32{{"v1": 95, "v2": 5}, {"v1": 75, "v2": 25}, {"v1": 100, "v2": 0}}
	var delays []time.Duration
	for i := range 12 {
		want := splits[i%len(splits)]
		time.Sleep(300 * time.Millisecond)
		patched, err := lab.SetWeights(ctx, want)
		if err != nil {
			t.Fatal(err)
		}
		w := map[string]uint32{}
		for k, v := range want {
			w[k] = uint32(v)
		}
		applied, err := caller.WaitForWeights(ctx, host, w)
		if err != nil {
			t.Fatal(err)
		}
		delays = append(delays, applied.Sub(patched))
	}
	slices.Sort(delays)
	t.Logf("patch → client applied over %d writes: min %v, median %v, max %v", len(delays),
		delays[0].Round(100*time.Microsecond), delays[len(delays)/2].Round(100*time.Microsecond), delays[len(delays)-1].Round(100*time.Microsecond))
	if delays[len(delays)-1] > 2*time.Second {
		t.Errorf("a weight change took %v to reach the client", delays[len(delays)-1])
	}
}

func debugPage(ctx context.Context, lab *Lab, page string) string {
	data, err := lab.Istiod.Debug(ctx, page)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

func fetch(t *testing.T, ctx context.Context, url string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return data
}

// capture writes the pages at urls into testdata/ when SLUICE_MESHLAB_CAPTURE=1.
func capture(t *testing.T, ctx context.Context, urls map[string]string) {
	t.Helper()
	if os.Getenv("SLUICE_MESHLAB_CAPTURE") != "1" {
		return
	}
	for name, url := range urls {
		data := fetch(t, ctx, url)
		if !strings.HasSuffix(string(data), "\n") {
			data = append(data, '\n')
		}
		if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
