package envoy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// chunked serves body without a Content-Length (as Envoy and Go's server do for big pages).
func chunked(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		_, _ = w.Write(body[len(body)/2:])
	}
}

// FetchFunc hands fn the body in the scrape's buffer, with its memory still counted;
// fn's error comes back as is and does not put the target into backoff; afterwards all
// memory is back in the budget.
func TestScraperFetchFunc(t *testing.T) {
	body := []byte(strings.Repeat(page, 2000)) // ~220 KB, chunked
	url := serve(t, chunked(body))
	s := NewScraper(ScrapeOptions{Timeout: 2 * time.Second, MaxBytes: 1 << 20, MaxBytesInFlight: 4 << 20})
	ctx := context.Background()
	errFn := errors.New("fn failed")
	for i := range 3 {
		err := s.FetchFunc(ctx, url, func(got []byte) error {
			if !bytes.Equal(got, body) {
				t.Errorf("round %d: FetchFunc page = %d bytes, want %d", i, len(got), len(body))
			}
			if s.bodies.TryAcquire(4 << 20) {
				s.bodies.Release(4 << 20)
				t.Errorf("round %d: the page's memory is not counted while fn runs", i)
			}
			return errFn
		})
		if !errors.Is(err, errFn) {
			t.Fatalf("round %d: FetchFunc = %v, want fn's error", i, err)
		}
		if left := s.backoffLeft(url); left != 0 {
			t.Fatalf("round %d: fn's error put the target into backoff (%v)", i, left)
		}
		if !s.bodies.TryAcquire(4 << 20) {
			t.Fatalf("round %d: FetchFunc kept memory from the in-flight budget", i)
		}
		s.bodies.Release(4 << 20)
	}
}

// Fetch's body is the caller's: later scrapes reusing the buffer do not change it.
func TestScraperFetchCopies(t *testing.T) {
	a, b := []byte(strings.Repeat("a", 100<<10)), []byte(strings.Repeat("b", 100<<10))
	urlA, urlB := serve(t, chunked(a)), serve(t, chunked(b))
	s := NewScraper(ScrapeOptions{Timeout: 2 * time.Second})
	ctx := context.Background()
	got, err := s.Fetch(ctx, urlA)
	if err != nil || !bytes.Equal(got, a) {
		t.Fatalf("Fetch = %d bytes, %v", len(got), err)
	}
	for range 5 {
		if err := s.FetchFunc(ctx, urlB, func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, a) {
		t.Fatal("a later scrape changed the body Fetch returned")
	}
}

// Reading a chunked page again and again allocates far less than the page per read: the
// body buffers are reused (before, each read allocated 64 KiB, 128 KiB, … up to twice the
// page; and until bench/scale's gateway pages, any page over 4 MiB on every read).
func TestScraperReusesBuffers(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under the race detector")
	}
	for _, tc := range []struct {
		name   string
		copies int
	}{
		{"a pod's page (~440 KB)", 4000},
		{"a gateway's page in front of 1,000 Services (~6 MiB)", 57000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(strings.Repeat(page, tc.copies))
			url := serve(t, chunked(body))
			s := NewScraper(ScrapeOptions{Timeout: 5 * time.Second})
			ctx := context.Background()
			read := func() {
				if err := s.FetchFunc(ctx, url, func(p []byte) error {
					if len(p) != len(body) {
						t.Fatalf("page %d bytes, want %d", len(p), len(body))
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			read()
			const n = 20
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				read()
			}
			runtime.ReadMemStats(&after)
			if perRead := (after.TotalAlloc - before.TotalAlloc) / n; perRead > uint64(len(body))/4 {
				t.Errorf("%d bytes allocated per read of a %d-byte page, want < a quarter of the page", perRead, len(body))
			}
		})
	}
}

// FetchReport parses in the scrape's buffer; an empty page is an empty report, a bad one
// an error naming the URL.
func TestScraperFetchReport(t *testing.T) {
	good := "istio_requests_total{reporter=\"destination\",destination_service=\"" + reviews + "\",destination_version=\"v1\",response_code=\"503\"} 7\n"
	tests := map[string]struct {
		body    string
		want    uint64 // Total().Rq5xx
		wantErr bool
	}{
		"page":  {body: good, want: 7},
		"empty": {body: " \n"},
		"bad":   {body: "istio_requests_total{reporter=\"destination\" 7\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(tc.body)) })
			s := NewScraper(ScrapeOptions{Timeout: 2 * time.Second})
			rep, err := s.FetchReport(context.Background(), url, Query{Host: reviews, Side: Destination})
			switch {
			case tc.wantErr:
				if err == nil || !strings.Contains(err.Error(), url) {
					t.Fatalf("FetchReport = %+v, %v; want an error naming %s", rep, err, url)
				}
			case err != nil || rep.Subsets == nil || rep.Total().Rq5xx != tc.want:
				t.Fatalf("FetchReport = %+v, %v; want %d 5xx", rep, err, tc.want)
			}
		})
	}
}

// Keep-alive holds at more targets than the old idle bound (4 × MaxConcurrent = 256): a
// second read of 300 targets dials no new connection; after CloseIdleConnections, all.
func TestScraperKeepsConnectionsAcrossTargets(t *testing.T) {
	const targets = 300
	var dialled atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				dialled.Add(1)
			}
		},
	}
	var urls []string
	for range targets {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(l) }()
		urls = append(urls, "http://"+l.Addr().String()+"/stats/prometheus")
	}
	t.Cleanup(func() { _ = srv.Close() })
	s := NewScraper(ScrapeOptions{Timeout: 5 * time.Second, MaxConcurrent: 64})
	readAll := func() {
		done := make(chan error, targets)
		for _, u := range urls {
			go func() { _, err := s.Fetch(context.Background(), u); done <- err }()
		}
		for range targets {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}
	readAll()
	first := dialled.Load()
	readAll()
	if again := dialled.Load() - first; again != 0 {
		t.Errorf("second read of %d targets dialled %d new connections (first read %d), want 0", targets, again, first)
	}
	s.CloseIdleConnections()
	before := dialled.Load()
	readAll()
	if again := dialled.Load() - before; again != targets {
		t.Errorf("read after CloseIdleConnections dialled %d connections, want %d", again, targets)
	}
}
