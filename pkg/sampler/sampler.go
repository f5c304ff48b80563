// Package sampler runs the guard signals too slow for the tick — the pods' memory and CPU,
// custom PromQL checks — beside it: one goroutine per signal of each active rollout, each
// at its own interval, keeping the latest results for the tick to read.
package sampler

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/spec"
)

// Querier evaluates a PromQL query to one number; NaN with a nil error is no data.
type Querier interface {
	Value(ctx context.Context, promql string) (float64, error)
}

// Job is what to sample for one active rollout.
type Job struct {
	// Rollout identifies the rollout (its canary and start); a new value starts afresh.
	Rollout            string
	Namespace, Service string
	Stable, Canary     string
	// Pods are both subsets' pods, by subset; they may change between Ensure calls
	// without restarting anything.
	Pods map[string]source.SubsetPods
	// Resources are the resource limits (sampled when Resources.On()) and Usage where
	// usage comes from.
	Resources analysis.ResourceLimits
	Usage     source.UsageSource
	// Checks are the custom checks and Query what runs them.
	Checks []spec.CheckSpec
	Query  Querier
}

// sameConfig reports whether a and b differ at most in their pods (which change without
// restarting the sampling). Sources compare by identity.
func sameConfig(a, b Job) bool {
	return a.Rollout == b.Rollout && a.Namespace == b.Namespace && a.Service == b.Service &&
		a.Stable == b.Stable && a.Canary == b.Canary && a.Resources == b.Resources &&
		a.Usage == b.Usage && a.Query == b.Query && slices.Equal(a.Checks, b.Checks)
}

// Runner samples the jobs of active rollouts. Ensure starts or updates a rollout's job,
// Forget stops it, Results reads what it has seen. It is a manager Runnable: Start
// returns when its context ends, having stopped every job.
type Runner struct {
	Clock clock.WithTicker

	mu      sync.Mutex
	runs    map[types.NamespacedName]*run
	stopped bool
}

// run is one rollout's sampling: its job, its goroutines' cancel, and its results.
type run struct {
	job       Job
	cancel    context.CancelFunc
	done      sync.WaitGroup
	resources analysis.ResourceState
	checks    []analysis.CheckState
}

// Start blocks until ctx ends, then stops every job and waits for their goroutines.
func (r *Runner) Start(ctx context.Context) error {
	<-ctx.Done()
	r.mu.Lock()
	r.stopped = true
	runs := r.runs
	r.runs = nil
	r.mu.Unlock()
	for _, rn := range runs {
		rn.cancel()
		rn.done.Wait()
	}
	return nil
}

// Ensure starts sampling key's job, or updates its pods when the job is otherwise the
// same; a different job replaces the old one.
func (r *Runner) Ensure(key types.NamespacedName, job Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if rn := r.runs[key]; rn != nil {
		if sameConfig(rn.job, job) {
			rn.job.Pods = job.Pods
			return
		}
		rn.cancel()
	}
	if r.runs == nil {
		r.runs = map[types.NamespacedName]*run{}
	}
	rn := &run{job: job}
	for _, c := range job.Checks {
		rn.checks = append(rn.checks, analysis.CheckState{Check: c.Check})
	}
	ctx, cancel := context.WithCancel(context.Background())
	rn.cancel = cancel
	r.runs[key] = rn
	if job.Resources.On() && job.Usage != nil {
		r.spawn(ctx, rn, job.Resources.Interval, func(ctx context.Context) { r.sampleUsage(ctx, rn) })
	}
	for i, c := range job.Checks {
		r.spawn(ctx, rn, c.Interval, func(ctx context.Context) { r.runCheck(ctx, rn, i) })
	}
}

// Forget stops key's job (it does not wait for a read in flight, which ends at its
// deadline and is dropped).
func (r *Runner) Forget(key types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rn := r.runs[key]; rn != nil {
		rn.cancel()
		delete(r.runs, key)
	}
}

// Results returns copies of what key's job has seen; zero values without a job.
func (r *Runner) Results(key types.NamespacedName) (analysis.ResourceState, []analysis.CheckState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rn := r.runs[key]
	if rn == nil {
		return analysis.ResourceState{}, nil
	}
	res := rn.resources
	res.Recent = append([]analysis.ResourceSample(nil), res.Recent...)
	checks := make([]analysis.CheckState, len(rn.checks))
	for i, c := range rn.checks {
		c.Recent = append([]analysis.CheckEval(nil), c.Recent...)
		checks[i] = c
	}
	return res, checks
}

// spawn runs once now and then every interval until ctx ends; each run may take at most
// one interval (a hanging source gives a no-data result, never a stuck signal).
func (r *Runner) spawn(ctx context.Context, rn *run, every time.Duration, once func(context.Context)) {
	every = max(every, time.Second)
	rn.done.Add(1)
	go func() {
		defer rn.done.Done()
		t := r.Clock.NewTicker(every)
		defer t.Stop()
		for {
			octx, cancel := context.WithTimeout(ctx, every)
			once(octx)
			cancel()
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			}
		}
	}()
}

// current returns rn's job as it is now (its pods change under Ensure).
func (r *Runner) current(rn *run) Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return rn.job
}

// sampleUsage reads both subsets' usage once and records the sample.
func (r *Runner) sampleUsage(ctx context.Context, rn *run) {
	job := r.current(rn)
	req := source.UsageRequest{Namespace: job.Namespace, Subsets: map[string]source.SubsetPods{
		job.Canary: job.Pods[job.Canary], job.Stable: job.Pods[job.Stable]}}
	u, err := job.Usage.ReadUsage(ctx, req)
	s := analysis.ResourceSample{Canary: u[job.Canary], Stable: u[job.Stable]}
	if err != nil {
		s = analysis.ResourceSample{Err: describe(ctx, err)}
	}
	keep := max(job.Resources.Memory.Samples, job.Resources.CPU.Samples, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return // forgotten meanwhile
	}
	s.At = r.Clock.Now()
	st := &rn.resources
	st.Latest = s
	if s.HasData() {
		st.Recent = append(st.Recent, s)
		st.Recent = st.Recent[max(len(st.Recent)-keep, 0):]
		st.LastDataAt = s.At
	}
}

// runCheck evaluates check i once (for both subsets when it compares) and records it.
func (r *Runner) runCheck(ctx context.Context, rn *run, i int) {
	job := r.current(rn)
	c := job.Checks[i]
	e := analysis.CheckEval{Canary: math.NaN(), Stable: math.NaN(), Query: spec.Expand(c.Query, job.Namespace, job.Service, job.Canary)}
	var err error
	switch {
	case job.Query == nil:
		err = errors.New("no Prometheus to query (the controller runs without --prometheus-url)")
	default:
		e.Canary, err = job.Query.Value(ctx, e.Query)
		if err == nil && c.Compare != analysis.CompareNone {
			e.Stable, err = job.Query.Value(ctx, spec.Expand(c.Query, job.Namespace, job.Service, job.Stable))
		}
	}
	if err != nil {
		e.Err = describe(ctx, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) {
		return
	}
	e.At = r.Clock.Now()
	st := &rn.checks[i]
	st.Latest = e
	if _, ok := e.Value(c.Compare); ok {
		st.Recent = append(st.Recent, e)
		st.Recent = st.Recent[max(len(st.Recent)-max(c.FailureLimit, 1), 0):]
		st.LastDataAt = e.At
	}
}

// describe is an error for people, saying when the read ran out of time.
func describe(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "no answer within the interval: " + err.Error()
	}
	return err.Error()
}
