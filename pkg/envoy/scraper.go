package envoy

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// ScrapeOptions bound what one scrape may cost.
type ScrapeOptions struct {
	// Timeout bounds one request, body included (default 400ms).
	Timeout time.Duration
	// MaxBytes caps the (decompressed) response body (default 16 MiB).
	MaxBytes int64
	// MaxBytesInFlight caps the memory of all bodies being read at once (default 4 ×
	// MaxBytes, at least 2 × MaxBytes): a body grows only by memory reserved from it, so
	// many endpoints streaming without end cost MaxBytesInFlight, not MaxConcurrent ×
	// MaxBytes. A read waiting for memory counts against its Timeout.
	MaxBytesInFlight int64
	// MaxConcurrent bounds scrapes in flight across all targets (default 64).
	MaxConcurrent int
	// Backoff is the base delay before a failed target is tried again; it doubles per
	// consecutive failure, capped at 30s (default 1s).
	Backoff time.Duration
}

const maxBackoff = 30 * time.Second

var (
	// ErrBackoff is returned without a request while a target is backing off after failures.
	ErrBackoff = errors.New("target is backing off after failed scrapes")
	// ErrTooLarge is returned when a response exceeds ScrapeOptions.MaxBytes.
	ErrTooLarge = errors.New("response exceeds size limit")
)

// Scraper fetches stats pages over one shared keep-alive HTTP client.
type Scraper struct {
	o      ScrapeOptions
	client *http.Client
	sem    chan struct{}
	// bodies holds the memory of the bodies being read (MaxBytesInFlight).
	bodies *semaphore.Weighted
	now    func() time.Time

	mu      sync.Mutex
	backoff map[string]*targetState
}

type targetState struct {
	failures int
	until    time.Time
}

// NewScraper returns a Scraper with o's zero fields set to their defaults.
func NewScraper(o ScrapeOptions) *Scraper {
	if o.Timeout <= 0 {
		o.Timeout = 400 * time.Millisecond
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 16 << 20
	}
	if o.MaxBytesInFlight <= 0 {
		o.MaxBytesInFlight = 4 * o.MaxBytes
	}
	o.MaxBytesInFlight = max(o.MaxBytesInFlight, 2*(o.MaxBytes+1))
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 64
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           4 * o.MaxConcurrent,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  o.Timeout,
		DisableCompression:     true, // decompressed here, under the size cap
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Scraper{
		o:       o,
		client:  &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		sem:     make(chan struct{}, o.MaxConcurrent),
		bodies:  semaphore.NewWeighted(o.MaxBytesInFlight),
		now:     time.Now,
		backoff: map[string]*targetState{},
	}
}

// Fetch GETs url and returns its body. Slow, oversized, truncated or undecodable responses
// are errors and put the target into backoff; a target in backoff fails fast with ErrBackoff.
func (s *Scraper) Fetch(ctx context.Context, url string) ([]byte, error) {
	if wait := s.backoffLeft(url); wait > 0 {
		return nil, fmt.Errorf("scraping %s: %w (%s left)", url, ErrBackoff, wait.Round(time.Millisecond))
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("scraping %s: waiting for a scrape slot: %w", url, ctx.Err())
	}
	body, err := s.fetch(ctx, url)
	<-s.sem
	s.record(url, err)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	return body, nil
}

func (s *Scraper) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	if resp.ContentLength > s.o.MaxBytes && resp.Header.Get("Content-Encoding") == "" {
		return nil, fmt.Errorf("%w: Content-Length %d > %d", ErrTooLarge, resp.ContentLength, s.o.MaxBytes)
	}
	var r io.Reader = io.LimitReader(resp.Body, s.o.MaxBytes+1)
	switch resp.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("reading gzip body: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	return s.readCapped(ctx, r, resp.ContentLength)
}

// ErrNoMemory is returned when a body could not get memory from MaxBytesInFlight within
// the scrape's timeout.
var ErrNoMemory = errors.New("no memory left for response bodies")

// firstRead is the first size of a body's buffer without a Content-Length.
const firstRead = 64 << 10

// readCapped reads all of r, failing once more than MaxBytes bytes arrive. The buffer
// starts at the Content-Length (hint) when one is given and doubles as needed; each
// buffer's memory is reserved from the in-flight budget before it is allocated and given
// back when the read ends (the caller owns the bytes returned from then on).
func (s *Scraper) readCapped(ctx context.Context, r io.Reader, hint int64) ([]byte, error) {
	limit := s.o.MaxBytes
	var held int64
	defer func() { s.bodies.Release(held) }()
	size := int64(firstRead)
	if hint > 0 && hint <= limit {
		size = hint + 1 // room to see the end without growing
	}
	var buf []byte
	for {
		if len(buf) == cap(buf) {
			next := min(max(size, 2*int64(cap(buf))), limit+1)
			if err := s.bodies.Acquire(ctx, next); err != nil {
				return nil, fmt.Errorf("%w (%d bytes in flight at most): %w", ErrNoMemory, s.o.MaxBytesInFlight, err)
			}
			grown := make([]byte, len(buf), next)
			copy(grown, buf)
			s.bodies.Release(int64(cap(buf)))
			held += next - int64(cap(buf))
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading body: %w", err)
		}
	}
}

func (s *Scraper) backoffLeft(url string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.backoff[url]; ok {
		return t.until.Sub(s.now())
	}
	return 0
}

// record updates url's backoff after a scrape: reset on success, doubled on failure.
func (s *Scraper) record(url string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if err == nil {
		delete(s.backoff, url)
		return
	}
	t, ok := s.backoff[url]
	if !ok {
		t = &targetState{}
		s.backoff[url] = t
		s.pruneLocked(now)
	}
	t.failures++
	d := s.o.Backoff
	for i := 1; i < t.failures && d < maxBackoff; i++ {
		d *= 2
	}
	t.until = now.Add(min(d, maxBackoff))
}

// pruneLocked forgets targets whose backoff ended long ago (pods that went away).
func (s *Scraper) pruneLocked(now time.Time) {
	if len(s.backoff) < 1024 {
		return
	}
	for u, t := range s.backoff {
		if now.Sub(t.until) > 2*maxBackoff {
			delete(s.backoff, u)
		}
	}
}
