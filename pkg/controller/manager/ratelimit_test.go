package manager

import (
	"testing"

	"k8s.io/client-go/rest"
)

func TestWithRateLimit(t *testing.T) {
	base := &rest.Config{Host: "https://127.0.0.1:6443", QPS: 20, Burst: 30}
	for name, tc := range map[string]struct {
		qps       float64
		burst     int
		wantQPS   float32
		wantBurst int
	}{
		"flags set the limit":          {100, 200, 100, 200},
		"a burst under 1 becomes 1":    {5, 0, 5, 1},
		"qps 0 keeps the config's own": {0, 500, 20, 30},
	} {
		t.Run(name, func(t *testing.T) {
			got := withRateLimit(base, tc.qps, tc.burst)
			if got.QPS != tc.wantQPS || got.Burst != tc.wantBurst || got.Host != base.Host {
				t.Fatalf("withRateLimit(%v, %d) = QPS %v burst %d host %q, want %v %d %q", tc.qps, tc.burst, got.QPS, got.Burst, got.Host, tc.wantQPS, tc.wantBurst, base.Host)
			}
			if base.QPS != 20 || base.Burst != 30 {
				t.Fatalf("the caller's config was changed: %+v", base)
			}
		})
	}
}
