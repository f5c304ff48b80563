package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestFirstTickHistogram: the first tick after the baseline read sees exactly the requests
// served since, in their own buckets (the baseline's empty histogram must not alias the
// subset's running totals).
func TestFirstTickHistogram(t *testing.T) {
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSubset(0, 1, true, 10*time.Second)
	s.observe(epoch)
	s.serve(rand.New(rand.NewPCG(1, 1)), 10000)
	inc := s.observe(epoch.Add(time.Second))
	want := s.counts().Latency
	if inc.Latency.Count != 10000 || !slices.Equal(inc.Latency.Counts, want.Counts) {
		t.Fatalf("first tick's histogram %v (%d), want %v (%d)", inc.Latency.Counts, inc.Latency.Count, want.Counts, want.Count)
	}
}
