package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/sluicedev/sluice/pkg/analysis"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/sampler"
	"github.com/sluicedev/sluice/pkg/source"
)

// Signals are the guard signals read beside the tick (pkg/sampler): the runner and where
// it reads from.
type Signals struct {
	// Runner samples each active rollout's signals; nil samples nothing (the signals a
	// spec enables then have no data and hold its steps).
	Runner *sampler.Runner
	// MetricsAPI reads PodMetrics (resources.source MetricsAPI).
	MetricsAPI source.UsageSource
	// PrometheusUsage (resources.source Prometheus) and Query (custom checks) are nil
	// without --prometheus-url.
	PrometheusUsage source.UsageSource
	Query           sampler.Querier
}

// problem says why the signals w's spec enables cannot be read; nil when they can.
func (s Signals) problem(w *world) *lifecycle.Problem {
	needs := ""
	switch {
	case len(w.spec.Checks) > 0 && s.Query == nil:
		needs = fmt.Sprintf("custom checks (%s)", w.spec.Checks[0].Name)
	case w.spec.Guard.Resources.On() && w.spec.ResourceSource == sluicev1alpha1.ResourceSourcePrometheus && s.PrometheusUsage == nil:
		needs = "guard.resources.source Prometheus"
	default:
		return nil
	}
	return &lifecycle.Problem{Reason: reason.PrometheusNotConfigured,
		Message: fmt.Sprintf("ShiftPolicy %q sets %s, but the controller runs without --prometheus-url", w.spec.PolicyName, needs)}
}

// sample makes sure the runner samples what w's spec enables for this rollout and returns
// what it has seen so far. It never waits for a read: the tick reads the latest results.
func (r *Reconciler) sample(ctx context.Context, w *world, key types.NamespacedName, rollout, stable, canary string) (analysis.ResourceState, []analysis.CheckState, error) {
	s := r.Signals
	if s.Runner == nil || (!w.spec.Guard.Resources.On() && len(w.spec.Checks) == 0) {
		return analysis.ResourceState{}, nil, nil
	}
	job := sampler.Job{Rollout: rollout, Namespace: w.svc.Namespace, Service: w.svc.Name, Stable: stable, Canary: canary,
		Resources: w.spec.Guard.Resources, Checks: w.spec.Checks, Query: s.Query, Pods: map[string]source.SubsetPods{}}
	if job.Resources.On() {
		job.Usage = s.MetricsAPI
		if w.spec.ResourceSource == sluicev1alpha1.ResourceSourcePrometheus {
			job.Usage = s.PrometheusUsage
		}
		for _, sub := range []string{stable, canary} {
			pods, err := r.subsetPods(ctx, w, sub)
			if err != nil {
				return analysis.ResourceState{}, nil, err
			}
			sp := source.SubsetPods{Selector: subsetSelector(w, sub)}
			for _, p := range pods {
				sp.Names = append(sp.Names, p.Name)
			}
			job.Pods[sub] = sp
		}
	}
	s.Runner.Ensure(key, job)
	res, checks := s.Runner.Results(key)
	return res, checks, nil
}

// subsetSelector is the label selector of subset's pods: the Service's selector plus the
// DestinationRule subset's labels.
func subsetSelector(w *world, subset string) labels.Set {
	sel := labels.Set{}
	for k, v := range w.svc.Spec.Selector {
		sel[k] = v
	}
	for k, v := range subsetLabels(w.drs, w.target, subset) {
		sel[k] = v
	}
	return sel
}

// rolloutID names one rollout of canary for the runner: a new start is a new rollout.
func rolloutID(canary string, started time.Time) string {
	return canary + "@" + started.UTC().Format(time.RFC3339Nano)
}

// forget drops what sluice keeps in memory about key's rollout and stops its sampling.
func (r *Reconciler) forget(key types.NamespacedName) {
	r.mem.forget(key)
	r.wakes.drop(key)
	if r.Signals.Runner != nil {
		r.Signals.Runner.Forget(key)
	}
}
