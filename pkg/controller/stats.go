package controller

import (
	"context"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/source"
)

// Sources are where stats come from: the subsets' own sidecars by default, the callers
// named by sluice.dev/stats-from when set, Prometheus when the policy says so.
type Sources struct {
	Destination source.Source
	Callers     source.Source
	// Prometheus is nil when the controller runs without --prometheus-url.
	Prometheus source.Source
}

// problem says why the stats source w's spec asks for cannot be had; nil when it can.
func (s Sources) problem(w *world) *lifecycle.Problem {
	if w.spec.StatsSource == sluicev1alpha1.StatsSourcePrometheus && s.Prometheus == nil {
		return &lifecycle.Problem{Reason: reason.PrometheusNotConfigured, Message: fmt.Sprintf("ShiftPolicy %q sets statsSource Prometheus, but the controller runs without --prometheus-url", w.spec.PolicyName)}
	}
	return nil
}

// pick returns the source for w's spec; problem says when there is none.
func (s Sources) pick(w *world) (source.Source, error) {
	switch {
	case w.spec.StatsSource == sluicev1alpha1.StatsSourcePrometheus:
		if p := s.problem(w); p != nil {
			return nil, p
		}
		return s.Prometheus, nil
	case w.spec.StatsFrom != nil:
		return s.Callers, nil
	default:
		return s.Destination, nil
	}
}

// subsetPods lists the Ready pods with an IP that belong to subset.
func (r *Reconciler) subsetPods(ctx context.Context, w *world, subset string) ([]corev1.Pod, error) {
	pods, err := r.allSubsetPods(ctx, w, subset)
	if err != nil {
		return nil, err
	}
	return readyOnly(pods), nil
}

// subsetLabels returns the labels of subset in the DestinationRules for the target host.
func subsetLabels(drs []*networkingv1.DestinationRule, t istio.Target, subset string) map[string]string {
	for _, dr := range drs {
		if !t.MatchesHost(dr.Spec.GetHost(), dr.Namespace) {
			continue
		}
		for _, s := range dr.Spec.GetSubsets() {
			if s.GetName() == subset {
				return s.GetLabels()
			}
		}
	}
	return nil
}
