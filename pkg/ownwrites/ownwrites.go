// Package ownwrites lets a controller read from its informer cache and still see its own
// last write at once. A controller that writes an object and reads it again before the
// informer has delivered the write would act on the state before it (replay a step, take
// its own patch for someone else's edit); reading every object from the API server
// instead costs a request per read. A Reader answers from the cache unless this process
// wrote the object more recently than the cache knows (resource versions compared as the
// API server defines them, k8s.io/apimachinery's resourceversion), in which case it
// answers with the object the write returned. If the cache has not caught up within
// MaxLag, or a resource version cannot be compared, it reads from the API server.
package ownwrites

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultMaxLag is how long a write may stay ahead of the cache before reads go to the
// API server: informers deliver a write in milliseconds, so a longer lag means the watch
// is broken or re-listing.
const DefaultMaxLag = time.Second

// Reader is a client.Reader over a cache that sees this process's own writes.
type Reader struct {
	// Cache is the informer-backed reader; Live reads from the API server.
	Cache, Live client.Reader
	Clock       clock.PassiveClock
	// MaxLag bounds how long a write is answered from memory (DefaultMaxLag when zero).
	MaxLag time.Duration

	mu      sync.Mutex
	written map[key]write
	// stale are objects whose cached copy a write found out of date: their next read
	// goes to the API server.
	stale map[key]bool
}

type key struct {
	kind            reflect.Type
	namespace, name string
}

type write struct {
	obj client.Object
	at  time.Time
}

// New returns a Reader over cache and live with the real clock.
func New(cache, live client.Reader) *Reader {
	return &Reader{Cache: cache, Live: live, Clock: clock.RealClock{}}
}

func keyOf(obj client.Object) key {
	return key{kind: reflect.TypeOf(obj), namespace: obj.GetNamespace(), name: obj.GetName()}
}

// Wrote records obj as returned by a successful write (create, update, patch). An object
// without a resource version is not recorded.
func (r *Reader) Wrote(obj client.Object) {
	if obj.GetResourceVersion() == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written == nil {
		r.written = map[key]write{}
	}
	k := keyOf(obj)
	if prev, ok := r.written[k]; ok && newer(prev.obj, obj) {
		return // writes answered out of order: keep the newest
	}
	r.written[k] = write{obj: obj.DeepCopyObject().(client.Object), at: r.Clock.Now()}
}

// Stale marks obj's cached copy as out of date (a write's precondition failed on it):
// the next read of obj goes to the API server, whatever the cache holds. Without this a
// cache whose watch is broken would answer with the same stale copy, and every write
// built on it would fail the same way, until the watch recovered.
func (r *Reader) Stale(obj client.Object) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stale == nil {
		r.stale = map[key]bool{}
	}
	r.stale[keyOf(obj)] = true
}

// takeStale reports whether obj was marked stale, and clears the mark.
func (r *Reader) takeStale(obj client.Object) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := keyOf(obj)
	if !r.stale[k] {
		return false
	}
	delete(r.stale, k)
	delete(r.written, k)
	return true
}

// newer reports whether a's resource version is known to be above b's.
func newer(a, b client.Object) bool {
	c, err := resourceversion.CompareResourceVersion(a.GetResourceVersion(), b.GetResourceVersion())
	return err == nil && c > 0
}

// Get reads key into obj: from the cache, from the recorded write when that is newer than
// the cache's copy, or from the API server when the cache lags by more than MaxLag or obj
// was marked Stale.
func (r *Reader) Get(ctx context.Context, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	obj.SetNamespace(k.Namespace)
	obj.SetName(k.Name)
	if r.takeStale(obj) {
		return r.Live.Get(ctx, k, obj, opts...)
	}
	cacheErr := r.Cache.Get(ctx, k, obj, opts...)
	w, ok := r.pending(obj)
	if !ok {
		return cacheErr
	}
	switch r.judge(w, obj, cacheErr) {
	case useCache:
		r.forget(obj, w)
		return cacheErr
	case useWrite:
		return assign(obj, w.obj)
	default:
		r.forget(obj, w)
		return r.Live.Get(ctx, k, obj, opts...)
	}
}

// List reads from the cache: a list cannot tell which of its items this process wrote
// last, so callers that need their own writes Get those items by name.
func (r *Reader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	return r.Cache.List(ctx, list, opts...)
}

type source int

const (
	useCache source = iota
	useWrite
	useLive
)

// judge decides where a read comes from when this process wrote the object at w.
func (r *Reader) judge(w write, cached client.Object, cacheErr error) source {
	lag := r.MaxLag
	if lag <= 0 {
		lag = DefaultMaxLag
	}
	if cacheErr == nil {
		c, err := resourceversion.CompareResourceVersion(cached.GetResourceVersion(), w.obj.GetResourceVersion())
		switch {
		case err != nil:
			return useLive
		case c >= 0:
			return useCache
		}
	}
	if r.Clock.Since(w.at) > lag {
		return useLive
	}
	return useWrite
}

func (r *Reader) pending(obj client.Object) (write, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.written[keyOf(obj)]
	return w, ok
}

// forget drops the record of w unless a newer write replaced it meanwhile.
func (r *Reader) forget(obj client.Object, w write) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := keyOf(obj)
	if cur, ok := r.written[k]; ok && cur.obj.GetResourceVersion() == w.obj.GetResourceVersion() {
		delete(r.written, k)
	}
}

// assign copies src into dst, both pointers to the same struct type.
func assign(dst, src client.Object) error {
	dv, sv := reflect.ValueOf(dst), reflect.ValueOf(src.DeepCopyObject())
	if dv.Type() != sv.Type() || dv.Kind() != reflect.Pointer {
		return fmt.Errorf("ownwrites: reading %T into %T", src, dst)
	}
	dv.Elem().Set(sv.Elem())
	return nil
}

var _ client.Reader = (*Reader)(nil)
