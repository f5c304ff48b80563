package cacheindex

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	toolscache "k8s.io/client-go/tools/cache"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
)

// podsByLabel is the pod informer's index of "namespace/key=value" for each label.
const podsByLabel = "sluice.dev/pod-label"

// podIndex adds the label index to c's pod informer (before c starts) and returns the
// informer's store: Index.Pods reads the store's own objects, with no list copy and no
// reflection (a controller-runtime cache list copies every pod it returns into a new
// slice, through reflection).
func podIndex(ctx context.Context, c ctrlcache.Informers) (toolscache.Indexer, error) {
	inf, err := c.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return nil, fmt.Errorf("getting the pod informer: %w", err)
	}
	sii, ok := inf.(toolscache.SharedIndexInformer)
	if !ok {
		return nil, fmt.Errorf("the pod informer is a %T, which has no store to read", inf)
	}
	if err := sii.AddIndexers(toolscache.Indexers{podsByLabel: podLabelKeys}); err != nil {
		return nil, fmt.Errorf("indexing pods by label: %w", err)
	}
	return sii.GetIndexer(), nil
}

func podLabelKeys(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	out := make([]string, 0, len(p.Labels))
	for k, v := range p.Labels {
		out = append(out, p.Namespace+"/"+k+"="+v)
	}
	return out, nil
}

// Pods returns the pods of namespace ns that sel selects, by name, found by one of sel's
// exact requirements (see pick) or, without one, among all of ns's. They are the
// informer's own objects: read them, never change them.
func (ix *Index) Pods(ns string, sel labels.Selector, prefer ...string) ([]*corev1.Pod, error) {
	var objs []any
	var err error
	if key, ok := pick(sel, prefer); ok {
		objs, err = ix.pods.ByIndex(podsByLabel, ns+"/"+key)
	} else {
		objs, err = ix.pods.ByIndex(toolscache.NamespaceIndex, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("reading pods of %s from the cache: %w", ns, err)
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if pod, ok := o.(*corev1.Pod); ok && sel.Matches(labels.Set(pod.Labels)) {
			out = append(out, pod)
		}
	}
	// The index is a set: its order changes from one read to the next.
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// pick returns "key=value" of one of sel's exact requirements: the first whose key is in
// prefer (in prefer's order), else sel's first (in key order); false when sel has none
// (only set-based or existence requirements).
func pick(sel labels.Selector, prefer []string) (string, bool) {
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
		return "", false
	}
	chosen := exact[0]
	for _, k := range prefer {
		if i := slices.IndexFunc(exact, func(r labels.Requirement) bool { return r.Key() == k }); i >= 0 {
			chosen = exact[i]
			break
		}
	}
	v, _ := chosen.Values().PopAny()
	return chosen.Key() + "=" + v, true
}

// PodCopies hands out copies of pods read from the store, made again only when the store's
// objects change (an informer replaces a pod's object on every update, so the same
// pointers in the same order are the same pods). A tick that reads the same pods every
// 500 ms copies them once. Safe for concurrent use.
type PodCopies struct {
	mu   sync.Mutex
	from []*corev1.Pod
	pods []corev1.Pod
}

// Of returns copies of pods: the ones handed out last when pods are the same objects. The
// result is shared between readers: read it, never change it.
func (c *PodCopies) Of(pods []*corev1.Pod) []corev1.Pod {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh(pods)
	return c.pods
}

// refresh makes the copies of pods unless they are the ones held.
func (c *PodCopies) refresh(pods []*corev1.Pod) {
	if c.pods != nil && slices.Equal(c.from, pods) {
		return
	}
	c.from = slices.Clone(pods)
	c.pods = make([]corev1.Pod, len(pods))
	for i, p := range pods {
		c.pods[i] = *p
	}
}
