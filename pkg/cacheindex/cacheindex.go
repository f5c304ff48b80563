// Package cacheindex declares the informer-cache indexes that sluice's per-tick reads
// use, so that a tick finds what it needs without scanning its namespace: VirtualServices
// and DestinationRules by the Services they apply to, pods by label. Each lookup only
// narrows what the caller then filters exactly as without it (RoutesTo, MatchesHost, the
// label selector), so an index only ever saves work.
package cacheindex

import (
	"context"
	"fmt"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// target is the index (a controller-runtime cache "field") of the istio.Target Key of
// every Service an object applies to.
const target = "sluice.dev/target"

// Register adds the VirtualService and DestinationRule indexes to a cache; call it before
// the cache starts. Pods have their own reader (NewPods).
func Register(ctx context.Context, fi client.FieldIndexer) error {
	indexes := []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
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
