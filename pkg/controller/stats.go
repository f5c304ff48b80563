package controller

import (
	"context"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
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

// ReasonNoPrometheus: the policy selects Prometheus but none is configured.
const ReasonNoPrometheus = "PrometheusNotConfigured"

// pick returns the source for w's spec, or *invalid when it cannot be had.
func (s Sources) pick(w *world) (source.Source, error) {
	switch {
	case w.spec.StatsSource == sluicev1alpha1.StatsSourcePrometheus:
		if s.Prometheus == nil {
			return nil, &invalid{ReasonNoPrometheus, fmt.Sprintf("ShiftPolicy %q sets statsSource Prometheus, but the controller runs without --prometheus-url", w.spec.PolicyName)}
		}
		return s.Prometheus, nil
	case w.spec.StatsFrom != nil:
		return s.Callers, nil
	default:
		return s.Destination, nil
	}
}

// subsetPods lists the Ready pods with an IP that belong to subset: the Service's selector
// plus the DestinationRule subset's labels.
func (r *Reconciler) subsetPods(ctx context.Context, w *world, subset string) ([]corev1.Pod, error) {
	sel := labels.Set{}
	for k, v := range w.svc.Spec.Selector {
		sel[k] = v
	}
	for k, v := range subsetLabels(w.drs, w.target, subset) {
		sel[k] = v
	}
	list := &corev1.PodList{}
	if err := r.Client.List(ctx, list, client.InNamespace(w.svc.Namespace), client.MatchingLabelsSelector{Selector: sel.AsSelector()}); err != nil {
		return nil, fmt.Errorf("listing pods of subset %q: %w", subset, err)
	}
	out := list.Items[:0]
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
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
