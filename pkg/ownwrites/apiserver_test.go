package ownwrites

import (
	"context"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// TestSeesItsOwnWritesThroughTheRealCache writes a ConfigMap over and over through the
// real API server and reads it back at once through a Reader over a real informer cache:
// every read returns the write just made, though the cache alone lags some of them; a
// write by another client is seen once the cache has it.
func TestSeesItsOwnWritesThroughTheRealCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx)
	if err != nil {
		t.Fatalf("starting the API server: %v", err)
	}
	defer func() { _ = c.Stop() }()
	informers, err := cache.New(c.Config, cache.Options{Scheme: c.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if _, err := informers.GetInformer(ctx, &corev1.ConfigMap{}); err != nil {
		t.Fatal(err)
	}
	informers.WaitForCacheSync(ctx)
	r := New(informers, c.Client)

	obj := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "own"}, Data: map[string]string{"n": "0"}}
	if err := c.Client.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	r.Wrote(obj)
	key := client.ObjectKeyFromObject(obj)
	const writes = 200
	lagged := 0
	for i := 1; i <= writes; i++ {
		obj.Data["n"] = strconv.Itoa(i)
		if err := c.Client.Update(ctx, obj); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		r.Wrote(obj)
		cached := &corev1.ConfigMap{}
		if err := informers.Get(ctx, key, cached); err == nil && cached.Data["n"] != obj.Data["n"] {
			lagged++
		}
		got := &corev1.ConfigMap{}
		if err := r.Get(ctx, key, got); err != nil {
			t.Fatalf("read after write %d: %v", i, err)
		}
		if got.Data["n"] != obj.Data["n"] || got.ResourceVersion != obj.ResourceVersion {
			t.Fatalf("read after write %d: n=%s rv=%s, want n=%s rv=%s", i, got.Data["n"], got.ResourceVersion, obj.Data["n"], obj.ResourceVersion)
		}
	}
	t.Logf("the cache alone lagged %d of %d reads right after a write", lagged, writes)

	// Someone else writes: the cache, not this process's memory, has the newest state.
	other := obj.DeepCopy()
	other.Data["n"] = "theirs"
	if err := c.Client.Update(ctx, other); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := &corev1.ConfigMap{}
		if err := r.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		if got.Data["n"] == "theirs" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another client's write never seen: n=%s", got.Data["n"])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := r.pending(obj); ok {
		t.Error("the record of the last own write survives a newer state in the cache")
	}
	staleCacheReadsLive(t, c, key)
}

// staleCacheReadsLive freezes a second real cache (its informers stopped, as a broken
// watch leaves them), changes the object behind it, and shows that a Reader over it
// answers with the frozen copy until the object is marked Stale, then once from the API
// server.
func staleCacheReadsLive(t *testing.T, c *cluster.Cluster, key client.ObjectKey) {
	ctx := t.Context()
	frozen, err := cache.New(c.Config, cache.Options{Scheme: c.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	cacheCtx, stop := context.WithCancel(ctx)
	go func() { _ = frozen.Start(cacheCtx) }()
	if _, err := frozen.GetInformer(ctx, &corev1.ConfigMap{}); err != nil {
		t.Fatal(err)
	}
	frozen.WaitForCacheSync(ctx)
	stop()
	time.Sleep(100 * time.Millisecond)
	live := &corev1.ConfigMap{}
	if err := c.Client.Get(ctx, key, live); err != nil {
		t.Fatal(err)
	}
	before := live.Data["n"]
	live.Data["n"] = "after the freeze"
	if err := c.Client.Update(ctx, live); err != nil {
		t.Fatal(err)
	}
	r := New(frozen, c.Client)
	read := func() string {
		got := &corev1.ConfigMap{}
		if err := r.Get(ctx, key, got); err != nil {
			t.Fatal(err)
		}
		return got.Data["n"]
	}
	if got := read(); got != before {
		t.Fatalf("frozen cache answered n=%q, want the frozen %q (the test cannot show Stale otherwise)", got, before)
	}
	r.Stale(live)
	if got := read(); got != "after the freeze" {
		t.Errorf("read after Stale: n=%q, want the API server's %q", got, "after the freeze")
	}
	if got := read(); got != before {
		t.Errorf("the Stale mark outlived one read: n=%q", got)
	}
}
