package envoy

import (
	"bytes"
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

	"github.com/sluicedev/sluice/pkg/traffic"
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
	// consecutive failure, capped at MaxBackoff (default 1s).
	Backoff time.Duration
	// MaxBackoff caps the delay (default 30s). A target read on behalf of many Services
	// at once (a caller's page) wants a short one: while it backs off, every Service
	// reading it is blind.
	MaxBackoff time.Duration
	// MaxIdleConns bounds the keep-alive connections kept open between scrapes across all
	// targets, at most 2 per target (default 4096). Each holds a file descriptor, two
	// goroutines and the transport's buffers; with fewer than the targets read per tick,
	// connections are dialled again on every read.
	MaxIdleConns int
}

// defaultMaxBackoff is ScrapeOptions.MaxBackoff's default.
const defaultMaxBackoff = 30 * time.Second

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
	// buffers keeps body buffers (*body) between scrapes; one in the pool holds no memory
	// from bodies.
	buffers sync.Pool
	now     func() time.Time

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
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = defaultMaxBackoff
	}
	o.Backoff = min(o.Backoff, o.MaxBackoff)
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 4096
	}
	tr := &http.Transport{
		DialContext:            (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           o.MaxIdleConns,
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
// The body is the caller's (a copy of the scrape's reused buffer); FetchFunc and
// FetchReport avoid that copy.
func (s *Scraper) Fetch(ctx context.Context, url string) ([]byte, error) {
	var out []byte
	err := s.FetchFunc(ctx, url, func(page []byte) error {
		out = bytes.Clone(page)
		return nil
	})
	return out, err
}

// FetchFunc GETs url like Fetch and calls fn with the body. page is only valid until fn
// returns: its buffer is reused by later scrapes, so fn must not keep page or any slice of
// it (copy what it needs). fn runs after the connection went back to the pool and the
// scrape slot was freed, while the body's memory still counts against MaxBytesInFlight;
// its error is returned as is and does not put the target into backoff.
func (s *Scraper) FetchFunc(ctx context.Context, url string, fn func(page []byte) error) error {
	if wait := s.backoffLeft(url); wait > 0 {
		return fmt.Errorf("scraping %s: %w (%s left)", url, ErrBackoff, wait.Round(time.Millisecond))
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("scraping %s: waiting for a scrape slot: %w", url, ctx.Err())
	}
	b := s.getBody()
	err := s.fetch(ctx, url, b)
	<-s.sem
	s.record(url, err)
	if err != nil {
		s.putBody(b, false)
		return fmt.Errorf("scraping %s: %w", url, err)
	}
	defer s.putBody(b, true)
	return fn(b.buf)
}

// FetchReport fetches url with FetchFunc and parses the page for q (Parse) in the scrape's
// buffer. An empty page is an empty report: with `usedonly`, Envoy sends nothing at all
// while no matching stat has been used yet. The report shares no memory with the page.
func (s *Scraper) FetchReport(ctx context.Context, url string, q Query) (Report, error) {
	var rep Report
	err := s.FetchFunc(ctx, url, func(page []byte) error {
		if len(bytes.TrimSpace(page)) == 0 {
			rep = Report{Subsets: map[string]traffic.Counts{}}
			return nil
		}
		var err error
		if rep, err = Parse(page, q); err != nil {
			return fmt.Errorf("parsing stats from %s: %w", url, err)
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	return rep, nil
}

// body is one scrape's buffer and the memory it holds from MaxBytesInFlight: held is
// cap(buf) while the buffer is in use, 0 in the pool.
type body struct {
	buf  []byte
	held int64
}

// maxPooled is the largest buffer kept for reuse: the default MaxBytes. An ingress
// gateway's page in front of 1,000 Services is ~6 MiB and is read several times a second
// (bench/scale); re-growing its buffer on every read was 9 % of sluice's CPU there. A
// pooled buffer held its page a moment ago, so the pool holds no more than was in flight.
const maxPooled = 16 << 20

func (s *Scraper) getBody() *body {
	if b, ok := s.buffers.Get().(*body); ok {
		return b
	}
	return &body{}
}

// putBody gives b's memory back to MaxBytesInFlight, and b to the pool when its read
// succeeded (a failed one may have filled MaxBytes) and its buffer is at most maxPooled.
func (s *Scraper) putBody(b *body, ok bool) {
	s.bodies.Release(b.held)
	b.held, b.buf = 0, b.buf[:0]
	if ok && cap(b.buf) <= maxPooled {
		s.buffers.Put(b)
	}
}

func (s *Scraper) fetch(ctx context.Context, url string, b *body) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("HTTP status %s", resp.Status)
	}
	if resp.ContentLength > s.o.MaxBytes && resp.Header.Get("Content-Encoding") == "" {
		return fmt.Errorf("%w: Content-Length %d > %d", ErrTooLarge, resp.ContentLength, s.o.MaxBytes)
	}
	var r io.Reader = io.LimitReader(resp.Body, s.o.MaxBytes+1)
	switch resp.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("reading gzip body: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return fmt.Errorf("unsupported Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	return s.readCapped(ctx, r, resp.ContentLength, b)
}

// ErrNoMemory is returned when a body could not get memory from MaxBytesInFlight within
// the scrape's timeout.
var ErrNoMemory = errors.New("no memory left for response bodies")

// firstRead is the first size of a body's buffer without a Content-Length.
const firstRead = 64 << 10

// readCapped reads all of r into b, failing once more than MaxBytes bytes arrive. It
// reads into b's buffer from the pool when that holds the Content-Length (hint), or
// firstRead bytes without one; otherwise the buffer starts at that size. It doubles as
// needed. Every buffer's memory is reserved from the in-flight budget before it is used
// and held by b until putBody.
func (s *Scraper) readCapped(ctx context.Context, r io.Reader, hint int64, b *body) error {
	limit := s.o.MaxBytes
	size := int64(firstRead)
	if hint > 0 && hint <= limit {
		size = hint + 1 // room to see the end without growing
	}
	b.buf = b.buf[:0]
	if n := int64(cap(b.buf)); n < size {
		b.buf = nil // grown below at once
	} else if err := s.bodies.Acquire(ctx, n); err != nil {
		return fmt.Errorf("%w (%d bytes in flight at most): %w", ErrNoMemory, s.o.MaxBytesInFlight, err)
	} else {
		b.held = n
	}
	for {
		if len(b.buf) == cap(b.buf) {
			if err := s.grow(ctx, b, size); err != nil {
				return err
			}
		}
		n, err := r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if int64(len(b.buf)) > limit {
			return fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading body: %w", err)
		}
	}
}

// grow replaces b's full buffer by one of at least size bytes and twice its capacity
// (at most MaxBytes+1), reserving the new one before the old one is given back.
func (s *Scraper) grow(ctx context.Context, b *body, size int64) error {
	next := min(max(size, 2*int64(cap(b.buf))), s.o.MaxBytes+1)
	if err := s.bodies.Acquire(ctx, next); err != nil {
		return fmt.Errorf("%w (%d bytes in flight at most): %w", ErrNoMemory, s.o.MaxBytesInFlight, err)
	}
	grown := make([]byte, len(b.buf), next)
	copy(grown, b.buf)
	s.bodies.Release(b.held)
	b.buf, b.held = grown, next
	return nil
}

// CloseIdleConnections closes the keep-alive connections not in use. A Scraper that is no
// longer needed keeps its idle connections (up to MaxIdleConns) open for 90 s otherwise.
func (s *Scraper) CloseIdleConnections() { s.client.CloseIdleConnections() }

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
	for i := 1; i < t.failures && d < s.o.MaxBackoff; i++ {
		d *= 2
	}
	t.until = now.Add(min(d, s.o.MaxBackoff))
}

// pruneLocked forgets targets whose backoff ended long ago (pods that went away).
func (s *Scraper) pruneLocked(now time.Time) {
	if len(s.backoff) < 1024 {
		return
	}
	for u, t := range s.backoff {
		if now.Sub(t.until) > 2*s.o.MaxBackoff {
			delete(s.backoff, u)
		}
	}
}
