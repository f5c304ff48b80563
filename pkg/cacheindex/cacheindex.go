// Package cacheindex declares the informer-cache indexes that sluice's per-tick reads
// use, so that a tick finds what it needs without scanning its namespace: pods by label,
// VirtualServices and DestinationRules by the Services they apply to. Each lookup is a
// list option that narrows a cache list; the list's own filter (label selector, RoutesTo,
// MatchesHost) still applies in full, so an index only ever saves work.
package cacheindex

import (
	"context"
	"fmt"
	"slices"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// The indexes' field names (controller-runtime indexes a cache by "fields" of its own).
const (
	// podLabel holds "key=value" for each of a pod's labels.
	podLabel = "sluice.dev/label"
	// target holds the istio.Target Key of every Service an object applies to.
	target = "sluice.dev/target"
)

// Register adds the indexes to a cache; call it before the cache starts.
func Register(ctx context.Context, fi client.FieldIndexer) error {
	indexes := []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
		{&corev1.Pod{}, podLabel, podLabels},
		{&networkingv1.VirtualService{}, target, virtualServiceTargets},
		{&networkingv1.DestinationRule{}, target, destinationRuleTargets},
	}
	for _, ix := range indexes {
		if err := fi.IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	return nil
}

func podLabels(o client.Object) []string {
	out := make([]string, 0, len(o.GetLabels()))
	for k, v := range o.GetLabels() {
		out = append(out, k+"="+v)
	}
	return out
}

func virtualServiceTargets(o client.Object) []string {
	vs, ok := o.(*networkingv1.VirtualService)
	if !ok {
		return nil
	}
	return istio.Targets(vs)
}

func destinationRuleTargets(o client.Object) []string {
	dr, ok := o.(*networkingv1.DestinationRule)
	if !ok {
		return nil
	}
	if t, ok := istio.HostTarget(dr.Spec.GetHost(), dr.Namespace); ok {
		return []string{t.Key()}
	}
	return nil
}

// AppliesTo narrows a list of VirtualServices to those with a say in t's traffic
// (istio.RoutesTo), or of DestinationRules to those whose host is t (MatchesHost).
func AppliesTo(t istio.Target) client.ListOption {
	return client.MatchingFields{target: t.Key()}
}

// Labelled narrows a pod list to the pods with one of sel's exact requirements: the first
// whose key is in prefer (in prefer's order), else sel's first (in key order). It
// returns nil when sel has none (only set-based or existence requirements): the list
// then reads the whole namespace.
func Labelled(sel labels.Selector, prefer ...string) client.ListOption {
	reqs, _ := sel.Requirements()
	var exact []labels.Requirement
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			if r.Values().Len() == 1 {
				exact = append(exact, r)
			}
		}
	}
	if len(exact) == 0 {
		return nil
	}
	pick := exact[0]
	for _, k := range prefer {
		if i := slices.IndexFunc(exact, func(r labels.Requirement) bool { return r.Key() == k }); i >= 0 {
			pick = exact[i]
			break
		}
	}
	v, _ := pick.Values().PopAny()
	return client.MatchingFields{podLabel: pick.Key() + "=" + v}
}
