package sampler

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/spec"
)

var key = types.NamespacedName{Namespace: "shop", Name: "reviews"}

// usage answers each read with the next of its answers (the last one repeats), or
// blocks until the read's context ends when hang is set. It records the requests.
type usage struct {
	mu      sync.Mutex
	answers []source.Usage
	hang    bool
	reqs    []source.UsageRequest
	entered chan struct{}
}

func (u *usage) ReadUsage(ctx context.Context, req source.UsageRequest) (source.Usage, error) {
	u.mu.Lock()
	u.reqs = append(u.reqs, req)
	hang := u.hang
	var a source.Usage
	if len(u.answers) > 0 {
		a = u.answers[0]
		if len(u.answers) > 1 {
			u.answers = u.answers[1:]
		}
	}
	u.mu.Unlock()
	if hang {
		if u.entered != nil {
			close(u.entered)
			u.entered = nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return a, nil
}

func (u *usage) requests() []source.UsageRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]source.UsageRequest(nil), u.reqs...)
}

// values answers queries with its values in turn (an error for errVal), recording them.
type values struct {
	mu      sync.Mutex
	vals    []float64
	queries []string
}

var errVal = math.Inf(-1)

func (v *values) Value(_ context.Context, q string) (float64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.queries = append(v.queries, q)
	if len(v.vals) == 0 {
		return math.NaN(), nil
	}
	x := v.vals[0]
	v.vals = v.vals[1:]
	if x == errVal {
		return math.NaN(), errors.New("bad_data: parse error")
	}
	return x, nil
}

// waitFor polls cond until it holds (failing after a generous deadline, not a timing goal).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func start(t *testing.T) (*Runner, *clocktesting.FakeClock) {
	t.Helper()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	r := &Runner{Clock: clk}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return r, clk
}

func pod(name string, mem float64) []analysis.PodUsage {
	return []analysis.PodUsage{{Name: name, MemoryBytes: mem}}
}

func resourceJob(u source.UsageSource) Job {
	return Job{Rollout: "v2@1", Namespace: "shop", Service: "reviews", Stable: "v1", Canary: "v2",
		Pods: map[string]source.SubsetPods{"v1": {Names: []string{"s1"}}, "v2": {Names: []string{"c1"}}},
		Resources: analysis.ResourceLimits{Interval: time.Second,
			Memory: analysis.MemoryLimits{Enabled: true, Samples: 2}, CPU: analysis.CPULimits{Samples: 1}},
		Usage: u}
}

// Samples are taken at once and then every interval; the ones with data are kept, as many
// as the checks need, and a sample without both subsets is only the latest.
func TestUsageSamples(t *testing.T) {
	r, clk := start(t)
	u := &usage{answers: []source.Usage{
		{"v2": pod("c1", 1), "v1": pod("s1", 1)},
		{"v2": pod("c1", 2), "v1": pod("s1", 1)},
		{"v2": pod("c1", 3)}, // stable missing: no data
		{"v2": pod("c1", 4), "v1": pod("s1", 1)},
	}}
	r.Ensure(key, resourceJob(u))
	for i := 1; i <= 4; i++ {
		waitFor(t, "a sample", func() bool { res, _ := r.Results(key); return !res.Latest.At.IsZero() && len(u.requests()) == i })
		waitFor(t, "the sample recorded", func() bool {
			res, _ := r.Results(key)
			return len(res.Latest.Canary) == 1 && res.Latest.Canary[0].MemoryBytes == float64(i)
		})
		if i < 4 {
			clk.Step(time.Second)
		}
	}
	res, _ := r.Results(key)
	if len(res.Recent) != 2 || res.Recent[0].Canary[0].MemoryBytes != 2 || res.Recent[1].Canary[0].MemoryBytes != 4 {
		t.Fatalf("recent samples %+v, want those of reads 2 and 4", res.Recent)
	}
	if !res.LastDataAt.Equal(clk.Now()) || res.Latest.HasData() != true {
		t.Fatalf("state %+v at %s", res, clk.Now())
	}
	req := u.requests()[0]
	if req.Namespace != "shop" || req.Subsets["v2"].Names[0] != "c1" || req.Subsets["v1"].Names[0] != "s1" {
		t.Fatalf("request %+v", req)
	}
}

// A hanging source never holds up Results, and after one interval its read ends as a
// sample without data that says so.
func TestHangingSource(t *testing.T) {
	r, _ := start(t)
	entered := make(chan struct{})
	u := &usage{hang: true, entered: entered}
	r.Ensure(key, resourceJob(u))
	<-entered
	res, _ := r.Results(key) // while the read hangs
	if !res.Latest.At.IsZero() {
		t.Fatalf("a result before the read ended: %+v", res)
	}
	waitFor(t, "the hanging read to end", func() bool { res, _ := r.Results(key); return !res.Latest.At.IsZero() })
	res, _ = r.Results(key)
	if !strings.Contains(res.Latest.Err, "no answer within the interval") || res.Latest.HasData() || len(res.Recent) != 0 {
		t.Fatalf("latest %+v, want a no-data sample naming the timeout", res.Latest)
	}
}

// A check's results: the canary query expanded (and stable's when it compares), results
// with data kept up to the failure limit, errors and empty results only as the latest.
func TestCheckResults(t *testing.T) {
	r, clk := start(t)
	q := &values{vals: []float64{5, 1, errVal, math.NaN(), 1, 9, 1}}
	c := spec.CheckSpec{Query: `sum(x{ns="{{namespace}}",v="{{subset}}"})`,
		Check: analysis.Check{Name: "x", Op: analysis.OpMax, Threshold: 2, Compare: analysis.CompareRatio, Interval: time.Second, FailureLimit: 2}}
	r.Ensure(key, Job{Rollout: "v2@1", Namespace: "shop", Service: "reviews", Stable: "v1", Canary: "v2", Checks: []spec.CheckSpec{c}, Query: q})
	want := []struct {
		latestErr  string
		recent     int
		canaryLast float64
	}{{"", 1, 5}, {"bad_data", 1, 5}, {"", 1, 5}, {"", 2, 9}}
	for i, w := range want {
		waitFor(t, "a result", func() bool {
			_, cs := r.Results(key)
			return len(cs) == 1 && !cs[0].Latest.At.IsZero() && cs[0].Latest.At.Equal(clk.Now())
		})
		_, cs := r.Results(key)
		st := cs[0]
		if !strings.Contains(st.Latest.Err, w.latestErr) || len(st.Recent) != w.recent || st.Recent[len(st.Recent)-1].Canary != w.canaryLast {
			t.Fatalf("evaluation %d: %+v, want error %q, %d recent, last canary %g", i, st, w.latestErr, w.recent, w.canaryLast)
		}
		if i == 0 && (st.Latest.Query != `sum(x{ns="shop",v="v2"})` || st.Latest.Stable != 1) {
			t.Fatalf("first evaluation %+v", st.Latest)
		}
		clk.Step(time.Second)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queries[1] != `sum(x{ns="shop",v="v1"})` {
		t.Fatalf("stable's query %q", q.queries[1])
	}
	if len(q.queries) < 7 { // an error on the canary skips stable's query
		t.Fatalf("queries %q", q.queries)
	}
}

// New pods keep the sampling going; a new rollout starts afresh; Forget stops it.
func TestEnsureAndForget(t *testing.T) {
	r, clk := start(t)
	u := &usage{answers: []source.Usage{{"v2": pod("c1", 1), "v1": pod("s1", 1)}}}
	job := resourceJob(u)
	r.Ensure(key, job)
	waitFor(t, "a sample", func() bool { res, _ := r.Results(key); return res.Latest.HasData() })
	job.Pods = map[string]source.SubsetPods{"v1": {Names: []string{"s2"}}, "v2": {Names: []string{"c2"}}}
	r.Ensure(key, job)
	if res, _ := r.Results(key); !res.Latest.HasData() {
		t.Fatal("new pods restarted the sampling")
	}
	clk.Step(time.Second)
	waitFor(t, "a read of the new pods", func() bool {
		reqs := u.requests()
		return len(reqs) == 2 && reqs[1].Subsets["v2"].Names[0] == "c2"
	})
	job.Rollout = "v3@2"
	r.Ensure(key, job)
	if res, _ := r.Results(key); res.Latest.HasData() && res.LastDataAt.Before(clk.Now()) {
		t.Fatalf("a new rollout kept the old one's results: %+v", res)
	}
	r.Forget(key)
	if res, cs := r.Results(key); !res.Latest.At.IsZero() || cs != nil {
		t.Fatalf("results after Forget: %+v %+v", res, cs)
	}
}
