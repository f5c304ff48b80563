package standin

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

func TestStatsServer(t *testing.T) {
	ip := netip.MustParseAddr("127.0.92.1")
	stats := newPodStats(reviewsV2)
	stats.record(200, 7)
	srv, err := startStatsServer(ip, stats)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.close() }()
	base := "http://127.0.92.1:15090"
	tests := map[string]struct {
		method, path string
		wantCode     int
	}{
		"stats":        {method: http.MethodGet, path: StatsPath, wantCode: http.StatusOK},
		"other path":   {method: http.MethodGet, path: "/stats", wantCode: http.StatusNotFound},
		"wrong method": {method: http.MethodPost, path: StatsPath, wantCode: http.StatusMethodNotAllowed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantCode == http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
	if got := requestsByCode(t, scrape(t, "127.0.92.1"))["200"]; got != 1 {
		t.Errorf("scraped %d requests, want 1", got)
	}

	// The address is free again after close: a replacement pod can take it.
	srv.close()
	if _, err := http.Get(base + StatsPath); err == nil {
		t.Error("server answers after close")
	}
	srv, err = startStatsServer(ip, newPodStats(reviewsV2))
	if err != nil {
		t.Fatalf("restarting on the same address: %v", err)
	}
	if got := requestsByCode(t, scrape(t, "127.0.92.1")); len(got) != 0 {
		t.Errorf("a new pod starts from zero, got %v", got)
	}
}

func TestStatsServerAddressInUse(t *testing.T) {
	ip := netip.MustParseAddr("127.0.92.2")
	a, err := startStatsServer(ip, newPodStats(reviewsV2))
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if b, err := startStatsServer(ip, newPodStats(reviewsV2)); err == nil {
		b.close()
		t.Fatal("two servers on one address")
	} else if !strings.Contains(err.Error(), "127.0.92.2:15090") {
		t.Errorf("error %q does not name the address", err)
	}
}
