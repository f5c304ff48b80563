package standin

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// watchVirtualService runs an informer on the one VirtualService the fleet follows
// until ctx is done, keeping f.weights equal to its default route's weights (empty
// while it does not exist). It returns a function that reports whether the handler
// has seen the initial list.
func (f *Fleet) watchVirtualService(ctx context.Context) (func() bool, error) {
	ns, name := f.cfg.Namespace, f.cfg.VirtualService
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	client := f.cfg.Dynamic.Resource(VirtualServiceGVR).Namespace(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return client.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return client.Watch(ctx, o)
		},
	}
	// Real API servers stream the initial list (WatchList); fake clients cannot.
	lwSemantics := cache.ToListWatcherWithWatchListSemantics(lw, f.cfg.Dynamic)
	inf := cache.NewSharedIndexInformer(lwSemantics, &unstructured.Unstructured{}, 0, cache.Indexers{})
	set := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok || u.GetName() != name {
			return
		}
		w, err := weightsFromUnstructured(u, ns, f.cfg.Service)
		f.mu.Lock()
		defer f.mu.Unlock()
		if err != nil {
			f.watchErrs++ // keep following the last weights that parsed
			return
		}
		f.weights = w
	}
	reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok && u.GetName() == name {
				f.mu.Lock()
				f.weights = map[string]int32{}
				f.mu.Unlock()
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watching VirtualService %s/%s: %w", ns, name, err)
	}
	f.background.Go(func() { inf.RunWithContext(ctx) })
	return reg.HasSynced, nil
}

// WatchErrors returns how many VirtualService versions could not be decoded (the
// generator kept the previous weights for each).
func (f *Fleet) WatchErrors() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.watchErrs
}
