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
	toolscache "k8s.io/client-go/tools/cache"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// target is the index (a controller-runtime cache "field") of the istio.Target Key of
// every Service an object applies to.
const target = "sluice.dev/target"

// Index is the cache's indexes: VirtualServices and DestinationRules by the Service they
// apply to (a controller-runtime cache field, used through AppliesTo), and pods by label
// in the pod informer's store (Pods). Safe for concurrent use.
type Index struct {
	pods toolscache.Indexer
}

// Register adds the indexes to c; call it before c starts.
func Register(ctx context.Context, c ctrlcache.Cache) (*Index, error) {
	indexes := []struct {
		obj     client.Object
		field   string
		extract client.IndexerFunc
	}{
		{&networkingv1.VirtualService{}, target, virtualServiceTargets},
		{&networkingv1.DestinationRule{}, target, destinationRuleTargets},
	}
	for _, ix := range indexes {
		if err := c.IndexField(ctx, ix.obj, ix.field, ix.extract); err != nil {
			return nil, fmt.Errorf("indexing %T by %s: %w", ix.obj, ix.field, err)
		}
	}
	pods, err := podIndex(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Index{pods: pods}, nil
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
func (*Index) AppliesTo(t istio.Target) client.ListOption {
	return client.MatchingFields{target: t.Key()}
}
