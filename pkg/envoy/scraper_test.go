package envoy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const page = "envoy_cluster_upstream_rq_completed{cluster_name=\"outbound|9080|v1|reviews.default.svc.cluster.local\"} 5\n"

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(w, r.WithContext(withRelease(r.Context(), release)))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	return srv.URL + "/stats/prometheus"
}

type releaseKey struct{}

func withRelease(ctx context.Context, ch chan struct{}) context.Context {
	return context.WithValue(ctx, releaseKey{}, ch)
}

// block waits until the client goes away or the test ends.
func block(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-r.Context().Value(releaseKey{}).(chan struct{}):
	}
}

func TestScraperFetch(t *testing.T) {
	bomb := gzipped(t, make([]byte, 8<<20)) // ~8 KiB on the wire, 8× the cap decompressed
	tests := map[string]struct {
		handler http.HandlerFunc
		want    string // body on success
		wantErr error  // errors.Is target; nil with want=="" means any error
		// slow: the case ends by the scrape's timeout. The others get a long one, so
		// a busy machine (race detector, parallel packages) cannot turn a size error
		// into a timeout.
		slow bool
	}{
		"plain": {handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) }, want: page},
		"gzip": {handler: func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept-Encoding") != "gzip" {
				http.Error(w, "no gzip", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gzipped(t, []byte(page)))
		}, want: page},
		"slow headers": {handler: func(w http.ResponseWriter, r *http.Request) { block(r) }, slow: true},
		"slow body": {handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("envoy_"))
			w.(http.Flusher).Flush()
			block(r)
		}, slow: true},
		"endless": {handler: func(w http.ResponseWriter, r *http.Request) {
			line := []byte(strings.Repeat("x", 1023) + "\n")
			for r.Context().Err() == nil {
				if _, err := w.Write(line); err != nil {
					return
				}
			}
		}, wantErr: ErrTooLarge},
		"huge content-length": {handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000000000")
			_, _ = w.Write([]byte("x"))
		}, wantErr: ErrTooLarge},
		"huge chunked": {handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(make([]byte, 2<<20))
		}, wantErr: ErrTooLarge},
		"gzip bomb": {handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(bomb)
		}, wantErr: ErrTooLarge},
		"truncated": {handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5000")
			_, _ = w.Write([]byte(page))
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
		}},
		"truncated gzip": {handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			z := gzipped(t, []byte(page))
			_, _ = w.Write(z[:len(z)/2])
		}},
		"status 503": {handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			url := serve(t, tc.handler)
			timeout := 10 * time.Second
			if tc.slow {
				timeout = 300 * time.Millisecond
			}
			s := NewScraper(ScrapeOptions{Timeout: timeout, MaxBytes: 1 << 20})
			start := time.Now()
			body, err := s.Fetch(context.Background(), url)
			if elapsed := time.Since(start); tc.slow && elapsed > 2*time.Second {
				t.Errorf("Fetch took %v, want bounded by the %v timeout", elapsed, timeout)
			}
			switch {
			case tc.want != "":
				if err != nil || string(body) != tc.want {
					t.Errorf("Fetch = %q, %v; want %q", body, err, tc.want)
				}
			case err == nil:
				t.Errorf("Fetch = %d bytes, want an error", len(body))
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("Fetch error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestScraperBackoff(t *testing.T) {
	var hits, fail atomic.Int32
	fail.Store(1)
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() == 1 {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(page))
	})
	s := NewScraper(ScrapeOptions{Backoff: time.Second})
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()

	steps := []struct {
		advance  time.Duration
		fail     bool
		wantHits int32
		wantErr  error // nil: success
	}{
		{0, true, 1, errAny},                          // first failure: backoff 1s
		{500 * time.Millisecond, true, 1, ErrBackoff}, // fails fast, no request
		{600 * time.Millisecond, true, 2, errAny},     // second failure: backoff 2s
		{1500 * time.Millisecond, true, 2, ErrBackoff},
		{600 * time.Millisecond, false, 3, nil}, // recovered: backoff cleared
		{0, true, 4, errAny},                    // fails again: back to 1s
		{900 * time.Millisecond, true, 4, ErrBackoff},
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		if st.fail {
			fail.Store(1)
		} else {
			fail.Store(0)
		}
		_, err := s.Fetch(ctx, url)
		switch {
		case st.wantErr == nil && err != nil:
			t.Fatalf("step %d: Fetch error %v, want success", i, err)
		case st.wantErr == errAny && (err == nil || errors.Is(err, ErrBackoff)):
			t.Fatalf("step %d: Fetch error %v, want a scrape failure", i, err)
		case st.wantErr == ErrBackoff && !errors.Is(err, ErrBackoff):
			t.Fatalf("step %d: Fetch error %v, want ErrBackoff", i, err)
		}
		if h := hits.Load(); h != st.wantHits {
			t.Fatalf("step %d: %d requests, want %d", i, h, st.wantHits)
		}
	}
}

var errAny = errors.New("any scrape error")

func TestScraperBackoffCap(t *testing.T) {
	tests := map[string]struct {
		o    ScrapeOptions
		want time.Duration
	}{
		"default cap":           {ScrapeOptions{Backoff: time.Second}, 30 * time.Second},
		"a caller page's cap":   {ScrapeOptions{Backoff: time.Second, MaxBackoff: time.Second}, time.Second},
		"cap below the base":    {ScrapeOptions{Backoff: time.Second, MaxBackoff: 300 * time.Millisecond}, 300 * time.Millisecond},
		"cap between doublings": {ScrapeOptions{Backoff: time.Second, MaxBackoff: 5 * time.Second}, 5 * time.Second},
		"defaults, both unset":  {ScrapeOptions{}, 30 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewScraper(tc.o)
			now := time.Unix(0, 0)
			s.now = func() time.Time { return now }
			for i := range 20 {
				s.record("u", errAny)
				if left := s.backoffLeft("u"); left > tc.want {
					t.Fatalf("backoff after %d failures = %v, above the cap %v", i+1, left, tc.want)
				}
			}
			if left := s.backoffLeft("u"); left != tc.want {
				t.Errorf("backoff after 20 failures = %v, want %v", left, tc.want)
			}
		})
	}
}

func TestScraperBoundsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	url := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(30 * time.Millisecond)
		inFlight.Add(-1)
		_, _ = w.Write([]byte(page))
	})
	s := NewScraper(ScrapeOptions{MaxConcurrent: 2, Timeout: 2 * time.Second})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.Fetch(context.Background(), url+"?i="+string(rune('a'+i))); err != nil {
				t.Errorf("Fetch: %v", err)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent scrapes = %d, want 1..2", p)
	}
}

// Bodies being read share MaxBytesInFlight: a read that cannot get memory within the
// timeout fails with ErrNoMemory, and every read gives its memory back, however it ends.
func TestScraperBodyMemory(t *testing.T) {
	small := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(page)) })
	endless := serve(t, func(w http.ResponseWriter, r *http.Request) {
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})
	s := NewScraper(ScrapeOptions{Timeout: 300 * time.Millisecond, MaxBytes: 1 << 20, MaxBytesInFlight: 3 << 20, Backoff: time.Nanosecond})
	if s.o.MaxBytesInFlight != 3<<20 {
		t.Fatalf("MaxBytesInFlight %d, want %d", s.o.MaxBytesInFlight, 3<<20)
	}
	if got := NewScraper(ScrapeOptions{MaxBytes: 1 << 20, MaxBytesInFlight: 1}).o.MaxBytesInFlight; got != 2*(1<<20+1) {
		t.Fatalf("MaxBytesInFlight below twice MaxBytes: %d, want %d", got, 2*(1<<20+1))
	}

	// All the memory taken: the small page waits for it, then fails.
	ctx := context.Background()
	if err := s.bodies.Acquire(ctx, 3<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, small); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("Fetch with no memory left: %v, want ErrNoMemory", err)
	}
	s.bodies.Release(3 << 20)
	time.Sleep(time.Millisecond) // the backoff after that failure
	if body, err := s.Fetch(ctx, small); err != nil || string(body) != page {
		t.Fatalf("Fetch with memory back = %q, %v", body, err)
	}

	// Sixteen endless bodies at once, beyond what the budget holds: each fails, none
	// keeps memory.
	var wg sync.WaitGroup
	var tooLarge, noMemory atomic.Int32
	for range 16 {
		wg.Go(func() {
			_, err := s.Fetch(ctx, endless)
			switch {
			case errors.Is(err, ErrTooLarge):
				tooLarge.Add(1)
			case errors.Is(err, ErrNoMemory):
				noMemory.Add(1)
			case err == nil:
				t.Error("an endless body was read whole")
			}
		})
	}
	wg.Wait()
	t.Logf("16 endless bodies: %d too large, %d out of memory, the rest timed out", tooLarge.Load(), noMemory.Load())
	if !s.bodies.TryAcquire(3 << 20) {
		t.Fatal("the reads kept memory from the in-flight budget")
	}
}
