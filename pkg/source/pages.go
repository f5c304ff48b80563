package source

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// DefaultPageMaxAge is how old a caller's page may be and still serve another Service's
// read: the default tick interval (500 ms). A rollout's tick also names the page it was
// served last (Request.Seen), and takes only a newer one (see ReadAfter): so N Services
// reading one ingress gateway cost one scrape of each gateway pod per tick interval, not
// N, and a tick's page began within its interval, or is its last one again while the
// next is in flight.
const DefaultPageMaxAge = 500 * time.Millisecond

// PageForgetAfter is how long a caller's page is kept after its request began (longer if
// maxAge is): a page past maxAge still serves readers while the next request is in
// flight, so only a caller nobody has read for this long (a pod gone) loses its page and
// its parser.
const PageForgetAfter = 10 * time.Second

// AnyAge, as a read's maxAge, lets any page begun after the reader's last one serve it
// however long ago it began, and makes the read wait only when there is none: the read
// of a rollout rechecking a suspect canary (Request.Recheck), which wants each new page
// as soon as it lands rather than one begun within its short recheck interval (a page
// of 1,000 Services is 100–250 ms old by start when it lands: every recheck waited for a
// request of its own). A reader with no last page takes a page within the CallerPages'
// own max age, as with any other maxAge.
const AnyAge = time.Duration(math.MaxInt64)

// CallerMaxBackoff caps how long a caller whose page could not be read is left alone
// (envoy.ScrapeOptions.MaxBackoff of the callers' scraper): its page serves every Service
// reading the caller, so a long backoff would leave them all without stats.
const CallerMaxBackoff = time.Second

// CallerPages reads the callers' host-independent stats pages (envoy.CallerStatsURL) on
// behalf of every Service at once. Reads of one page that overlap share one request; a
// page fetched less than maxAge ago (--caller-page-max-age) is reused; each page is
// parsed once, into the Report of every host it names. A failed read is shared the same
// way: the caller counts as failed for every Service that reads it within maxAge. The
// Scraper's caps, timeout and backoff apply to each request unchanged. Safe for
// concurrent use.
type CallerPages struct {
	scraper *envoy.Scraper
	maxAge  time.Duration
	now     func() time.Time

	flight singleflight.Group
	mu     sync.Mutex
	pages  map[string]*callerPage // by URL
	// fetching holds when the request in flight for a URL began.
	fetching map[string]time.Time
	// parsers keep each URL's accumulators from one page to the next (a caller's pages
	// name the same clusters every time); a fetch takes its URL's out while it parses.
	parsers map[string]*envoy.HostsParser
	swept   time.Time

	// Failing, when set (before the first read), is called for each host and subset
	// whose 5xx count on a caller's new page is above that on the caller's previous page,
	// outside any lock and before the page serves any reader: the controller moves the
	// next tick of a rollout whose canary just failed to now, rather than leaving the
	// failures on the page for up to a tick interval (see controller.Reconciler.Wake).
	Failing func(host, subset string)
}

// callerPage is one read of one caller's page: every host's Report, or why it failed.
type callerPage struct {
	at    time.Time // when the request started
	hosts map[string]envoy.Report
	err   error
}

// NewCallerPages returns a CallerPages fetching through s. maxAge 0 means
// DefaultPageMaxAge; a negative maxAge reuses no page, only overlapping reads share one.
func NewCallerPages(s *envoy.Scraper, maxAge time.Duration) *CallerPages {
	if maxAge == 0 {
		maxAge = DefaultPageMaxAge
	}
	return &CallerPages{scraper: s, maxAge: maxAge, now: time.Now, pages: map[string]*callerPage{}, fetching: map[string]time.Time{}, parsers: map[string]*envoy.HostsParser{}}
}

// Read returns the Report of host from the page at url: empty (no subsets) when the page
// has nothing for host. The Report is the caller's own copy. A positive maxAge lowers the
// age of a page this read may reuse (a Service ticking faster than the default, e.g.
// while it rechecks a suspect canary, wants fresher pages); it never raises it.
func (c *CallerPages) Read(ctx context.Context, url, host string, maxAge time.Duration) (envoy.Report, error) {
	rep, _, err := c.ReadAfter(ctx, url, host, maxAge, time.Time{})
	return rep, err
}

// ReadAfter is Read from a page whose request started after after (the start of the page
// this reader read last, which it returns for the next read; zero when it gave up before
// a page came). A reader that passes its last page never reads an older one, and with
// maxAge at its tick interval its ticks see a new page each: a caller pod is fetched
// about once per interval however many readers tick in between. One exception keeps
// readers from queueing behind a request they did not start: while a request is in
// flight, the newest page serves (even past maxAge) when it is the reader's last (no new
// counts this tick, the next one sees the new page) or newer, rather than the read
// waiting for the request.
// With maxAge AnyAge any page newer than the reader's last serves at once.
func (c *CallerPages) ReadAfter(ctx context.Context, url, host string, maxAge time.Duration, after time.Time) (envoy.Report, time.Time, error) {
	age := c.age(maxAge, after)
	if p := c.usable(url, age, after); p != nil {
		return p.report(host)
	}
	return c.read(ctx, url, host, age, notBeforeOf(after))
}

// Cached is ReadAfter when it can answer at once, from a page already read without
// error; ok is false when the read has to wait for a request (or would return an
// error). A reader of many callers asks it first, and waits, in its own goroutine, only
// for the callers it does not answer.
func (c *CallerPages) Cached(url, host string, maxAge time.Duration, after time.Time) (envoy.Report, time.Time, bool) {
	p := c.usable(url, c.age(maxAge, after), after)
	if p == nil || p.err != nil {
		return envoy.Report{}, time.Time{}, false
	}
	rep, at, _ := p.report(host)
	return rep, at, true
}

// notBeforeOf is when the page of a reader whose last page began at after must have
// begun: after it; any time for a reader with none.
func notBeforeOf(after time.Time) time.Time {
	if after.IsZero() {
		return after
	}
	return after.Add(time.Nanosecond)
}

// age is how old a page a read with maxAge may reuse: maxAge when positive and lower
// than the CallerPages' own; AnyAge for a reader with a last page (after) that asks for it.
func (c *CallerPages) age(maxAge time.Duration, after time.Time) time.Duration {
	if maxAge == AnyAge && !after.IsZero() {
		return AnyAge
	}
	if maxAge > 0 {
		return min(c.maxAge, maxAge)
	}
	return c.maxAge
}

// usable returns the stored page of url that a reader whose last page began at after may
// take without waiting, nil when there is none: the page fetched less than age ago and
// begun after after; or, while a request begun after it is in flight, the page when it
// began no earlier than after (the reader's last page, or a newer one), also when that
// read failed (the caller counts as failed this tick rather than hold the tick for up to
// the scrape timeout). Only a reader with no such page waits for the request:
// bench/scale's 1,000 rollouts reading 3 gateway pods kept two of the four workers
// waiting when only the reader's own last page was served this way. A reader with no last
// page (zero after) takes only a page within age.
func (c *CallerPages) usable(url string, age time.Duration, after time.Time) *callerPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pages[url]
	switch {
	case p == nil:
		return nil
	case c.now().Sub(p.at) < age && !p.at.Before(notBeforeOf(after)):
		return p
	case after.IsZero() || p.at.Before(after):
		return nil
	}
	if began, ok := c.fetching[url]; !ok || !began.After(p.at) {
		return nil
	}
	return p
}

// Prefetch starts a request for url's next page in the background and returns at once,
// unless a request of url is in flight or url's newest page began after after (the page
// the reader read last): the reader's next read then has a new page coming or waiting.
// A reader that will read url again soon (a recheck: Callers.ReadAhead) calls it so that
// its next read finds a new page landed or on its way, rather than starting the request
// and waiting for it. The page serves every reader and calls Failing, as any other.
//
// The first version also skipped a page begun less than the recheck interval ago; in a
// traced bench/scale run at 1,000 that skipped the read-ahead after the very tick that
// read the page (begun 70 ms before), and the recheck started the request itself and
// waited for it.
func (c *CallerPages) Prefetch(url string, after time.Time) {
	c.mu.Lock()
	p := c.pages[url]
	c.mu.Unlock()
	if p != nil && p.at.After(after) {
		return
	}
	// Every request of url goes through flight: DoChan joins one in flight rather than
	// start another. Its result channel is buffered, so nobody needs to take it.
	c.flight.DoChan(url, func() (any, error) { return c.fetch(context.Background(), url), nil })
}

// ReadFresh is Read from a page whose request started after ReadFresh was called: no
// page fetched before, and no request already in flight, serves it. A rollout's
// baseline is read this way, so that what the callers counted before the rollout began
// (a canary that failed until just before a retry) cannot fall into its window. Reads
// that begin together still share one request. It also returns when the page began.
func (c *CallerPages) ReadFresh(ctx context.Context, url, host string) (envoy.Report, time.Time, error) {
	return c.read(ctx, url, host, c.maxAge, c.now())
}

// read returns host's Report from a page of url younger than age whose request started
// at or after notBefore, fetching one when there is none, and when that page began.
func (c *CallerPages) read(ctx context.Context, url, host string, age time.Duration, notBefore time.Time) (envoy.Report, time.Time, error) {
	p := c.fresh(url, age, notBefore)
	for joined := 0; p == nil; joined++ {
		ch := c.flight.DoChan(url, func() (any, error) {
			if p := c.fresh(url, age, notBefore); p != nil {
				return p, nil
			}
			// The request outlives any one reader: others may be waiting on it. The
			// scraper's timeout bounds it.
			return c.fetch(context.WithoutCancel(ctx), url), nil
		})
		select {
		case res := <-ch:
			p = res.Val.(*callerPage)
		case <-ctx.Done():
			return envoy.Report{}, time.Time{}, fmt.Errorf("reading %s: %w", url, ctx.Err())
		}
		if joined == 0 && p.at.Before(notBefore) {
			// A request begun before this read: wait for the next one, which begins after
			// this one ended, so after this read began.
			p = nil
		}
	}
	return p.report(host)
}

// report is host's Report on the page (a copy), when the page's request began, and why
// the page could not be read.
func (p *callerPage) report(host string) (envoy.Report, time.Time, error) {
	if p.err != nil {
		return envoy.Report{}, p.at, p.err
	}
	return cloneReport(p.hosts[host]), p.at, nil
}

// fresh returns the page of url fetched less than age ago and not before notBefore, nil
// when there is none.
func (c *CallerPages) fresh(url string, age time.Duration, notBefore time.Time) *callerPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pages[url]; p != nil && c.now().Sub(p.at) < age && !p.at.Before(notBefore) {
		return p
	}
	return nil
}

// fetch reads and parses the page of url once and keeps the result for maxAge.
func (c *CallerPages) fetch(ctx context.Context, url string) *callerPage {
	p := &callerPage{at: c.now()}
	c.mu.Lock()
	c.fetching[url] = p.at
	prev := c.pages[url]
	parser := c.parsers[url]
	delete(c.parsers, url)
	c.mu.Unlock()
	if parser == nil {
		parser = &envoy.HostsParser{}
	}
	// Parsed in the scrape's reused buffer: the parser's reports share no memory with it,
	// nor with the parser.
	p.err = c.scraper.FetchFunc(ctx, url, func(data []byte) error {
		if len(bytes.TrimSpace(data)) == 0 {
			// With `usedonly`, Envoy sends nothing at all while no matching stat has been used.
			p.hosts = map[string]envoy.Report{}
			return nil
		}
		var err error
		if p.hosts, err = parser.Parse(data, envoy.Source); err != nil {
			return fmt.Errorf("parsing stats from %s: %w", url, err)
		}
		return nil
	})
	if p.err != nil {
		p.hosts = nil
	}
	if c.Failing != nil && prev != nil && prev.err == nil && p.err == nil {
		grownFailures(prev.hosts, p.hosts, c.Failing)
	}
	c.store(url, p, parser)
	return p
}

// grownFailures calls failing for each host and subset of cur whose 5xx count is above
// the same host and subset's in prev (one caller's consecutive pages: counters that only
// grow while the caller lives). A subset new on a host prev had counts from zero (Envoy
// lists a cluster once it is used: a canary whose first requests fail); a host new on
// the page has no earlier page to be compared with and is left to its rollout's tick.
func grownFailures(prev, cur map[string]envoy.Report, failing func(host, subset string)) {
	for host, rep := range cur {
		before, ok := prev[host]
		if !ok {
			continue
		}
		for subset, c := range rep.Subsets {
			if c.Rq5xx > before.Subsets[subset].Rq5xx {
				failing(host, subset)
			}
		}
	}
}

// store keeps p and url's parser and, at most once per max(maxAge, 1s), forgets the pages
// of callers nobody read for PageForgetAfter (pods that went away) and their parsers.
// Forgetting pages once past maxAge, as it did, took the page that serves readers while
// the next request is in flight from callers read a little less often than the sweep:
// at 1,000 rollouts all four workers then waited for that request (bench/scale).
func (c *CallerPages) store(url string, p *callerPage, parser *envoy.HostsParser) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pages[url] = p
	c.parsers[url] = parser
	delete(c.fetching, url)
	now := c.now()
	if now.Sub(c.swept) < max(c.maxAge, time.Second) {
		return
	}
	c.swept = now
	forget := max(PageForgetAfter, 2*c.maxAge)
	maps.DeleteFunc(c.pages, func(_ string, q *callerPage) bool { return now.Sub(q.at) >= forget })
	maps.DeleteFunc(c.parsers, func(u string, _ *envoy.HostsParser) bool { return c.pages[u] == nil })
}

// cloneReport copies r deeply enough that its reader may change it: the subset map and
// the latency histograms are shared by every Service reading the page.
func cloneReport(r envoy.Report) envoy.Report {
	out := envoy.Report{Subsets: make(map[string]traffic.Counts, len(r.Subsets)), GRPCFailuresIn2xx: maps.Clone(r.GRPCFailuresIn2xx)}
	for s, c := range r.Subsets {
		c.Latency = c.Latency.Clone()
		out.Subsets[s] = c
	}
	return out
}
