package standin

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
)

// A shared gateway's page carries every joined Service's clusters in one valid page,
// and each Service's caller-side report reads only its own host.
func TestSharedCallerPage(t *testing.T) {
	var trimmed atomic.Bool
	hosts := []string{"reviews.a.svc.cluster.local", "reviews.b.svc.cluster.local"}
	gp := &gatewayPod{cacheFor: time.Second}
	for i, h := range hosts {
		s := &callerStats{host: h, trimmed: &trimmed, clusters: map[string]*clusterStats{}}
		for range i + 1 {
			s.record("outbound|9080|v2|"+h, 503, 2, true, false)
		}
		s.record("outbound|9080|v1|"+h, 200, 2, true, false)
		gp.join(s)
	}
	t0 := time.Unix(0, 0)
	page := gp.render(t0)
	parsePage(t, page) // valid text exposition format: each family once
	if n := bytes.Count(page, []byte("# TYPE envoy_cluster_upstream_rq counter\n")); n != 1 {
		t.Fatalf("family envoy_cluster_upstream_rq declared %d times, want 1:\n%s", n, page)
	}
	for i, h := range hosts {
		rep, err := envoy.Parse(page, envoy.Query{Host: h, Side: envoy.Source})
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Subsets["v2"]; got.Requests != uint64(i+1) || got.Rq5xx != uint64(i+1) {
			t.Errorf("%s v2: %d requests, %d 5xx, want %d of each", h, got.Requests, got.Rq5xx, i+1)
		}
		if got := rep.Subsets["v1"]; got.Requests != 1 || got.Rq5xx != 0 {
			t.Errorf("%s v1: %d requests, %d 5xx, want 1 and 0", h, got.Requests, got.Rq5xx)
		}
	}

	tests := map[string]struct {
		at      time.Duration
		renewed bool
	}{
		"within CacheFor: the same page": {at: 500 * time.Millisecond},
		"after CacheFor: rendered again": {at: 1500 * time.Millisecond, renewed: true},
	}
	gp.stats[0].record("outbound|9080|v1|"+hosts[0], 200, 2, true, false)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gp.mu.Lock()
			gp.page, gp.renderedAt = page, t0
			gp.mu.Unlock()
			if got := !bytes.Equal(gp.render(t0.Add(tc.at)), page); got != tc.renewed {
				t.Errorf("page renewed: %v, want %v", got, tc.renewed)
			}
		})
	}
}
