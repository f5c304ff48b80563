package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// TestScrapeSubsets reads the lab caller's captured page (e2e/meshlab/testdata): the v2
// failures there are gRPC statuses over HTTP 200, which the baselines must see as failures.
func TestScrapeSubsets(t *testing.T) {
	page, err := os.ReadFile("../../e2e/meshlab/testdata/caller-stats-prometheus.txt")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(page) }))
	defer srv.Close()
	got, err := scrapeSubsets(context.Background(), srv.URL, "reviews.meshlab.svc.cluster.local")
	if err != nil {
		t.Fatal(err)
	}
	v1, v2 := got["v1"], got["v2"]
	if v1.Requests == 0 || v1.Rq5xx != 0 || v2.Requests == 0 || v2.Rq5xx == 0 || v2.Rq5xx > v2.Requests {
		t.Fatalf("scrapeSubsets = v1 %+v, v2 %+v; want v1 clean and v2 with its gRPC failures", v1, v2)
	}
}
