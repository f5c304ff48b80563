package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// counting serves a stats page and counts the requests it gets.
type counting struct {
	page
	n atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.page.ServeHTTP(w, r)
}

// manualClock is a clock the test moves by hand.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// manyHosts is a gateway page with the v1 and v2 clusters of n hosts svc-<i>.default…:
// svc-i has sent i+1 requests to v1 and `tick` to v2.
func manyHosts(n, tick int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"2xx\",cluster_name=\"outbound|9080|v1|%s\"} %d\n", hostN(i), i+1)
		fmt.Fprintf(&b, "envoy_cluster_upstream_rq{response_code_class=\"5xx\",cluster_name=\"outbound|9080|v2|%s\"} %d\n", hostN(i), tick)
	}
	return b.String()
}

func hostN(i int) string { return "svc-" + strconv.Itoa(i) + ".default.svc.cluster.local" }

// newPagesFor serves stand-in on a loopback address and returns its caller URL and a
// CallerPages on a manual clock.
func newPagesFor(t *testing.T, stand http.Handler, maxAge time.Duration) (string, *CallerPages, *manualClock) {
	t.Helper()
	ips, port := standIns(t, stand)
	clk := &manualClock{t: time.Unix(1_800_000_000, 0)}
	cp := NewCallerPages(envoy.NewScraper(envoy.ScrapeOptions{Timeout: 2 * time.Second}), maxAge)
	cp.now = clk.now
	return envoy.CallerStatsURL("http://" + net.JoinHostPort(ips[0], strconv.Itoa(port)) + DefaultPath), cp, clk
}

// pagesAfterFirst is newPagesFor a stand-in serving manyHosts(1, 1), with a first page read:
// it also returns when that page began.
func pagesAfterFirst(t *testing.T, gw interface {
	http.Handler
	set(string)
}) (string, *CallerPages, *manualClock, time.Time) {
	t.Helper()
	gw.set(manyHosts(1, 1))
	url, cp, clk := newPagesFor(t, gw, DefaultPageMaxAge)
	_, first, err := cp.ReadAfter(context.Background(), url, hostN(0), 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return url, cp, clk, first
}

// Fifty Services reading one gateway pod in the same tick cost one request and one parse;
// the next tick (MaxAge later) costs one more. Run with -race (make test does).
func TestCallerPagesOneRequestPerTick(t *testing.T) {
	const services, ticks = 50, 4
	gw := &counting{}
	url, cp, clk := newPagesFor(t, gw, DefaultPageMaxAge)
	for tick := range ticks {
		gw.set(manyHosts(services, tick))
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, services)
		for i := range services {
			wg.Go(func() {
				<-start
				rep, err := cp.Read(context.Background(), url, hostN(i), 0)
				want := map[string]traffic.Counts{"v1": {Requests: uint64(i + 1), Rq2xx: uint64(i + 1)}, "v2": {Requests: uint64(tick), Rq5xx: uint64(tick)}}
				switch {
				case err != nil:
					errs <- err
				case !reflect.DeepEqual(rep.Subsets, want):
					errs <- fmt.Errorf("tick %d, %s: %+v, want %+v", tick, hostN(i), rep.Subsets, want)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// Later reads within the tick period reuse the page too.
		clk.add(DefaultPageMaxAge - time.Millisecond)
		if _, err := cp.Read(context.Background(), url, hostN(0), 0); err != nil {
			t.Fatal(err)
		}
		if got := gw.n.Load(); got != int64(tick+1) {
			t.Fatalf("after tick %d: %d requests to the gateway pod, want %d", tick, got, tick+1)
		}
		clk.add(time.Millisecond)
	}
}

// A page is not used once MaxAge has passed since its request started: the next read
// fetches again and sees the new counts.
func TestCallerPagesStaleNotReused(t *testing.T) {
	tests := map[string]struct {
		maxAge  time.Duration
		readAge time.Duration // the second read's own max age (0: none)
		advance time.Duration
		wantNew bool
	}{
		"within max age":             {maxAge: 250 * time.Millisecond, advance: 249 * time.Millisecond},
		"at max age":                 {maxAge: 250 * time.Millisecond, advance: 250 * time.Millisecond, wantNew: true},
		"long after":                 {maxAge: 250 * time.Millisecond, advance: time.Minute, wantNew: true},
		"custom max age, within":     {maxAge: time.Second, advance: 900 * time.Millisecond},
		"negative max age: no reuse": {maxAge: -1, advance: 0, wantNew: true},
		"recheck reader, within":     {maxAge: 250 * time.Millisecond, readAge: 50 * time.Millisecond, advance: 40 * time.Millisecond},
		"recheck reader wants newer": {maxAge: 250 * time.Millisecond, readAge: 50 * time.Millisecond, advance: 60 * time.Millisecond, wantNew: true},
		"reader cannot raise it":     {maxAge: 250 * time.Millisecond, readAge: time.Second, advance: 300 * time.Millisecond, wantNew: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gw := &counting{}
			gw.set(manyHosts(1, 1))
			url, cp, clk := newPagesFor(t, gw, tc.maxAge)
			if _, err := cp.Read(context.Background(), url, hostN(0), 0); err != nil {
				t.Fatal(err)
			}
			gw.set(manyHosts(1, 7))
			clk.add(tc.advance)
			rep, err := cp.Read(context.Background(), url, hostN(0), tc.readAge)
			if err != nil {
				t.Fatal(err)
			}
			want, wantReqs := uint64(1), int64(1)
			if tc.wantNew {
				want, wantReqs = 7, 2
			}
			if got := rep.Subsets["v2"].Rq5xx; got != want || gw.n.Load() != wantReqs {
				t.Errorf("v2 5xx = %d after %d requests, want %d after %d", got, gw.n.Load(), want, wantReqs)
			}
		})
	}
}

// A failed read is every Service's failure for the period (one request), and a host the
// page does not name reads as no subsets, never as an error or zero traffic of a subset.
func TestCallerPagesFailuresAndAbsentHosts(t *testing.T) {
	tests := map[string]struct {
		status  int
		body    string
		wantErr string
	}{
		"HTTP 500":                  {status: http.StatusInternalServerError, wantErr: "500"},
		"garbage":                   {body: "\x00\x01\x02", wantErr: "parsing stats from"},
		"bad counter of other host": {body: manyHosts(1, 1) + `istio_requests_total{reporter="source",destination_service="x.example",destination_version="v1",response_code="200"} -3` + "\n", wantErr: "out of range"},
		"empty page (usedonly)":     {body: "\n"},
		"host absent":               {body: manyHosts(1, 1)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gw := &counting{}
			gw.set(tc.body)
			gw.status = tc.status
			url, cp, _ := newPagesFor(t, gw, DefaultPageMaxAge)
			for range 5 {
				rep, err := cp.Read(context.Background(), url, reviews, 0)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Read error = %v, want one containing %q", err, tc.wantErr)
					}
					continue
				}
				if err != nil || rep.Subsets == nil || len(rep.Subsets) != 0 {
					t.Fatalf("Read = %+v, %v; want an empty report", rep, err)
				}
			}
			if gw.n.Load() != 1 {
				t.Errorf("%d requests, want 1", gw.n.Load())
			}
		})
	}
}

// A reader that gives up does not cancel the request the others wait on.
func TestCallerPagesReaderGivesUp(t *testing.T) {
	gw := &counting{}
	gw.set(manyHosts(2, 3))
	gw.delay = 300 * time.Millisecond
	url, cp, _ := newPagesFor(t, gw, DefaultPageMaxAge)
	impatient, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var patientErr error
	var patient envoy.Report
	wg.Go(func() { patient, patientErr = cp.Read(context.Background(), url, hostN(1), 0) })
	_, err := cp.Read(impatient, url, hostN(0), 0)
	wg.Wait()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("impatient reader: %v, want its deadline", err)
	}
	if patientErr != nil || patient.Subsets["v2"].Rq5xx != 3 {
		t.Errorf("patient reader: %+v, %v", patient, patientErr)
	}
	if gw.n.Load() != 1 {
		t.Errorf("%d requests, want 1", gw.n.Load())
	}
}

// Reports are copies: one Service changing its Report changes no other's.
func TestCallerPagesReportsAreCopies(t *testing.T) {
	gw := &counting{}
	gw.set(`envoy_cluster_upstream_rq_time_bucket{cluster_name="outbound|9080|v1|` + reviews + `",le="10"} 1
envoy_cluster_upstream_rq_time_bucket{cluster_name="outbound|9080|v1|` + reviews + `",le="+Inf"} 1
envoy_cluster_upstream_rq{response_code_class="2xx",cluster_name="outbound|9080|v1|` + reviews + `"} 1
`)
	url, cp, _ := newPagesFor(t, gw, DefaultPageMaxAge)
	a, err := cp.Read(context.Background(), url, reviews, 0)
	if err != nil || len(a.Subsets["v1"].Latency.Counts) != 1 {
		t.Fatalf("Read = %+v, %v", a, err)
	}
	a.Subsets["v1"].Latency.Counts[0] = 99
	a.Subsets["v9"] = traffic.Counts{Requests: 1}
	b, err := cp.Read(context.Background(), url, reviews, 0)
	if err != nil || b.Subsets["v1"].Latency.Counts[0] != 1 || len(b.Subsets) != 1 {
		t.Errorf("second reader sees the first one's changes: %+v, %v", b, err)
	}
}

// gated serves its page's body as it is when a request arrives; request hold (the first
// when 0) waits until release is closed.
type gated struct {
	counting
	release chan struct{}
	// hold is the request (counting from 1) that waits; 0 means the first.
	hold int64
}

func (g *gated) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := g.n.Add(1)
	g.mu.Lock()
	body := g.body
	g.mu.Unlock()
	if n == max(g.hold, 1) {
		<-g.release
	}
	_, _ = w.Write([]byte(body))
}

// A fresh read (a rollout's baseline) takes no page requested before it began: neither a
// page still within max age nor a request in flight, which it waits out before making
// its own. Its page then serves later reads like any other.
func TestCallerPagesReadFresh(t *testing.T) {
	tests := map[string]struct {
		inFlight bool // the earlier read is still waiting on the gateway when the fresh one begins
		advance  time.Duration
		wantNew  bool
	}{
		"cached page from before":           {advance: time.Millisecond, wantNew: true},
		"request in flight from before":     {inFlight: true, advance: time.Millisecond, wantNew: true},
		"cached page from the same instant": {advance: 0},
		"request in flight, same instant":   {inFlight: true, advance: 0},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gw := &gated{release: make(chan struct{})}
			gw.set(manyHosts(1, 1))
			url, cp, clk := newPagesFor(t, gw, DefaultPageMaxAge)
			earlier := make(chan envoy.Report, 1)
			go func() {
				rep, err := cp.Read(context.Background(), url, hostN(0), 0)
				if err != nil {
					t.Error(err)
				}
				earlier <- rep
			}()
			for gw.n.Load() == 0 { // the earlier request has reached the gateway
				time.Sleep(time.Millisecond)
			}
			if !tc.inFlight {
				close(gw.release)
				<-earlier
			}
			gw.set(manyHosts(1, 7))
			clk.add(tc.advance)
			fresh := make(chan envoy.Report, 1)
			go func() {
				rep, _, err := cp.ReadFresh(context.Background(), url, hostN(0))
				if err != nil {
					t.Error(err)
				}
				fresh <- rep
			}()
			if tc.inFlight {
				time.Sleep(50 * time.Millisecond) // the fresh read joins the request in flight
				close(gw.release)
				if got := (<-earlier).Subsets["v2"].Rq5xx; got != 1 {
					t.Errorf("earlier read: v2 5xx = %d, want 1", got)
				}
			}
			want, wantReqs := uint64(1), int64(1)
			if tc.wantNew {
				want, wantReqs = 7, 2
			}
			if got := (<-fresh).Subsets["v2"].Rq5xx; got != want || gw.n.Load() != wantReqs {
				t.Errorf("fresh read: v2 5xx = %d after %d requests, want %d after %d", got, gw.n.Load(), want, wantReqs)
			}
			// The fresh read's page serves the next plain read within max age.
			if rep, err := cp.Read(context.Background(), url, hostN(0), 0); err != nil || rep.Subsets["v2"].Rq5xx != want || gw.n.Load() != wantReqs {
				t.Errorf("plain read after it: %+v, %v after %d requests", rep, err, gw.n.Load())
			}
		})
	}
}

// Fresh reads that begin together share one request, as plain reads do.
func TestCallerPagesFreshReadsShare(t *testing.T) {
	const services = 50
	gw := &counting{}
	gw.set(manyHosts(services, 3))
	url, cp, _ := newPagesFor(t, gw, DefaultPageMaxAge)
	var wg sync.WaitGroup
	for i := range services {
		wg.Go(func() {
			rep, _, err := cp.ReadFresh(context.Background(), url, hostN(i))
			if err != nil || rep.Subsets["v2"].Rq5xx != 3 {
				t.Errorf("%s: %+v, %v", hostN(i), rep, err)
			}
		})
	}
	wg.Wait()
	if got := gw.n.Load(); got != 1 {
		t.Errorf("%d requests to the gateway pod, want 1", got)
	}
}

// Readers that each pass the page they read last (ReadAfter), ticking every max age at
// phases spread over the interval, as a thousand rollouts do: one request per interval,
// however many readers, and every reader's ticks see a new page each. Plain reads at
// half the interval (the rule before ReadAfter) cost two requests per interval.
func TestCallerPagesReadAfterOnePagePerInterval(t *testing.T) {
	const readers, rounds, interval = 100, 6, 500 * time.Millisecond
	tests := map[string]struct {
		after        bool // ReadAfter with the reader's last page, max age = interval
		wantRequests int64
	}{
		"each reader passes its last page": {after: true, wantRequests: rounds},
		"plain reads at half the interval": {after: false, wantRequests: 2 * rounds},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gw := &counting{}
			url, cp, clk := newPagesFor(t, gw, interval)
			last := make([]time.Time, readers)
			seen := make([]uint64, readers) // the v2 count of the page the reader read last
			step := interval / readers
			for round := range rounds {
				for i := range readers {
					// The page counts requests: a new page says so in v2's count.
					gw.set(manyHosts(1, int(gw.n.Load())+1))
					var rep envoy.Report
					var at time.Time
					var err error
					if tc.after {
						rep, at, err = cp.ReadAfter(context.Background(), url, hostN(0), interval, last[i])
					} else {
						rep, err = cp.Read(context.Background(), url, hostN(0), interval/2)
					}
					if err != nil {
						t.Fatal(err)
					}
					got := rep.Subsets["v2"].Rq5xx
					if tc.after && (round > 0 && (got <= seen[i] || !at.After(last[i]))) {
						t.Fatalf("round %d, reader %d: page %d begun %v, after page %d begun %v: want a newer one", round, i, got, at, seen[i], last[i])
					}
					last[i], seen[i] = at, got
					clk.add(step)
				}
			}
			if got := gw.n.Load(); got != tc.wantRequests {
				t.Errorf("%d requests to the gateway pod in %d intervals, want %d", got, rounds, tc.wantRequests)
			}
		})
	}
}

// A reader that ticks again before max age has passed (a recheck, a requeue) is served a
// page begun after the one it read last: a new request, never the same page twice.
func TestCallerPagesReadAfterNeverTheSamePage(t *testing.T) {
	gw := &counting{}
	gw.set(manyHosts(1, 1))
	url, cp, clk := newPagesFor(t, gw, DefaultPageMaxAge)
	_, first, err := cp.ReadAfter(context.Background(), url, hostN(0), 0, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	// Another reader, with no page read before, takes the same page.
	if _, at, err := cp.ReadAfter(context.Background(), url, hostN(0), 0, time.Time{}); err != nil || !at.Equal(first) || gw.n.Load() != 1 {
		t.Fatalf("second reader: page begun %v (%v) after %d requests, want the first page (%v) after 1", at, err, gw.n.Load(), first)
	}
	gw.set(manyHosts(1, 2))
	clk.add(time.Millisecond)
	rep, at, err := cp.ReadAfter(context.Background(), url, hostN(0), 0, first)
	if err != nil || !at.After(first) || rep.Subsets["v2"].Rq5xx != 2 || gw.n.Load() != 2 {
		t.Fatalf("first reader again 1 ms later: %+v begun %v (%v) after %d requests, want the new page after 2", rep.Subsets, at, err, gw.n.Load())
	}
}

// PageMarks keeps the pages of the callers read last time only: a caller gone since is
// forgotten, and a read that got no page leaves no mark (the next read takes any page).
func TestPageMarksReplace(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	var m PageMarks
	if got := m.last("a"); !got.IsZero() {
		t.Fatalf("zero PageMarks: last = %v, want zero", got)
	}
	m.replace([]string{"a", "b"}, []time.Time{t0, t0.Add(time.Second)})
	m.replace([]string{"b", "c"}, []time.Time{t0.Add(2 * time.Second), {}})
	for url, want := range map[string]time.Time{"a": {}, "b": t0.Add(2 * time.Second), "c": {}} {
		if got := m.last(url); !got.Equal(want) {
			t.Errorf("last(%q) = %v, want %v", url, got, want)
		}
	}
}

// While a request is in flight, a reader whose last page is the newest one is served that
// page again at once (no new counts) rather than queueing behind a request it did not
// start; a reader with no page read yet waits for the request, and so does the reader
// that started it. Both then get the new page.
func TestCallerPagesReadAfterDoesNotQueue(t *testing.T) {
	gw := &gated{release: make(chan struct{}), hold: 2}
	url, cp, clk, first := pagesAfterFirst(t, gw)
	ctx := context.Background()
	gw.set(manyHosts(1, 2))
	clk.add(DefaultPageMaxAge + 100*time.Millisecond) // the first page is too old now

	type result struct {
		v2 uint64
		at time.Time
	}
	read := func(after time.Time) chan result {
		ch := make(chan result, 1)
		go func() {
			rep, at, err := cp.ReadAfter(ctx, url, hostN(0), 0, after)
			if err != nil {
				t.Error(err)
			}
			ch <- result{rep.Subsets["v2"].Rq5xx, at}
		}()
		return ch
	}
	starter := read(first)
	for gw.n.Load() < 2 { // the starter's request has reached the gateway
		time.Sleep(time.Millisecond)
	}
	newcomer := read(time.Time{})
	for name, last := range map[string]time.Time{"the newest": first, "older than the newest": first.Add(-time.Second)} {
		select {
		case r := <-read(last):
			if r.v2 != 1 || !r.at.Equal(first) {
				t.Errorf("reader during the request, its last page %s: page %d begun %v, want the newest (1, %v)", name, r.v2, r.at, first)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("a reader whose last page is %s waited for a request in flight", name)
		}
	}
	close(gw.release)
	for name, ch := range map[string]chan result{"starter": starter, "newcomer": newcomer} {
		if r := <-ch; r.v2 != 2 || !r.at.After(first) {
			t.Errorf("%s: page %d begun %v, want the new page (2, after %v)", name, r.v2, r.at, first)
		}
	}
	if got := gw.n.Load(); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

// A caller's parser serves its every page (its accumulators kept), and a caller that is
// no longer read keeps its page (which serves readers while its next request is in
// flight) until PageForgetAfter, then loses it and its parser at the next sweep.
func TestCallerPagesKeepParserPerCaller(t *testing.T) {
	kept, gone := &counting{}, &counting{}
	kept.set(manyHosts(3, 1))
	gone.set(manyHosts(5, 1))
	ips, port := standIns(t, kept, gone)
	urlOf := func(ip string) string {
		return envoy.CallerStatsURL("http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + DefaultPath)
	}
	keptURL, goneURL := urlOf(ips[0]), urlOf(ips[1])
	clk := &manualClock{t: time.Unix(1_800_000_000, 0)}
	cp := NewCallerPages(envoy.NewScraper(envoy.ScrapeOptions{Timeout: 2 * time.Second}), DefaultPageMaxAge)
	cp.now = clk.now
	read := func(url string, host int, want uint64) {
		t.Helper()
		rep, err := cp.Read(context.Background(), url, hostN(host), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Subsets["v2"].Rq5xx; got != want {
			t.Fatalf("%s, %s: v2 5xx = %d, want %d", url, hostN(host), got, want)
		}
	}
	parserOf := func(url string) *envoy.HostsParser {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		return cp.parsers[url]
	}
	read(keptURL, 2, 1)
	read(goneURL, 4, 1)
	first := parserOf(keptURL)
	if first == nil || parserOf(goneURL) == nil || first == parserOf(goneURL) {
		t.Fatalf("parsers after one page each: %p and %p, want one per caller", first, parserOf(goneURL))
	}
	for tick := 2; tick < 6; tick++ {
		clk.add(DefaultPageMaxAge)
		kept.set(manyHosts(3, tick))
		read(keptURL, 2, uint64(tick))
		if p := parserOf(keptURL); p != first {
			t.Fatalf("tick %d: the caller's parser was replaced", tick)
		}
	}
	if n := kept.n.Load(); n != 5 {
		t.Errorf("%d requests to the caller read every tick, want 5", n)
	}
	held := func() (page, parser bool) {
		cp.mu.Lock()
		defer cp.mu.Unlock()
		_, page = cp.pages[goneURL]
		_, parser = cp.parsers[goneURL]
		return page, parser
	}
	if page, parser := held(); !page || !parser {
		t.Errorf("two seconds after its last read, the caller lost its page (kept: %v) or its parser (kept: %v)", page, parser)
	}
	clk.add(PageForgetAfter)
	read(keptURL, 2, 5)
	if page, parser := held(); page || parser {
		t.Errorf("%v after its last read, the gone caller still has a page (%v) or a parser (%v)", PageForgetAfter+2*time.Second, page, parser)
	}
}

// A page past max age stays to serve readers while its caller's next request is in
// flight, however the sweeps of other callers' pages fall: it is forgotten only
// PageForgetAfter after its request began.
func TestCallerPagesSweepKeepsPagesInUse(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	const a, b = "http://127.0.0.1:1/a", "http://127.0.0.1:2/b"
	for name, tc := range map[string]struct {
		sweepAt time.Duration // another caller's page stored, after a's began
		kept    bool
	}{
		"just past max age":              {DefaultPageMaxAge + 100*time.Millisecond, true},
		"three intervals old":            {3 * DefaultPageMaxAge, true},
		"just short of forgetting":       {PageForgetAfter - time.Millisecond, true},
		"PageForgetAfter after it began": {PageForgetAfter, false},
	} {
		t.Run(name, func(t *testing.T) {
			cp := NewCallerPages(envoy.NewScraper(envoy.ScrapeOptions{}), DefaultPageMaxAge)
			clk := &manualClock{t: t0}
			cp.now = clk.now
			cp.store(a, &callerPage{at: t0, hosts: map[string]envoy.Report{}}, &envoy.HostsParser{})
			clk.add(tc.sweepAt)
			cp.mu.Lock()
			cp.fetching[a] = clk.now() // a's next request, in flight
			cp.mu.Unlock()
			cp.store(b, &callerPage{at: clk.now(), hosts: map[string]envoy.Report{}}, &envoy.HostsParser{})
			_, _, served := cp.Cached(a, hostN(0), 0, t0)
			if served != tc.kept {
				t.Errorf("after a sweep at +%v, a reader of a's page while its request is in flight served: %t, want %t", tc.sweepAt, served, tc.kept)
			}
		})
	}
}

// Cached answers exactly when a read need not wait: from a page within max age begun
// after the reader's last, or, while a request is in flight, from the newest page when the
// reader has read a page before and that one is not newer.
func TestCallerPagesCached(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	page := func(at time.Time, err error) *callerPage {
		p := &callerPage{at: at, err: err}
		if err == nil {
			p.hosts = map[string]envoy.Report{hostN(0): {Subsets: map[string]traffic.Counts{"v2": {Requests: 3}}}}
		}
		return p
	}
	tests := map[string]struct {
		stored   *callerPage
		fetching bool // a request begun after the stored page is in flight
		now      time.Duration
		after    time.Time
		want     bool
	}{
		"fresh, first read":                 {stored: page(t0, nil), now: 100 * time.Millisecond, want: true},
		"fresh, newer than the last":        {stored: page(t0, nil), now: 100 * time.Millisecond, after: t0.Add(-time.Second), want: true},
		"fresh, but the last one":           {stored: page(t0, nil), now: 100 * time.Millisecond, after: t0},
		"stale, nothing in flight":          {stored: page(t0, nil), now: time.Second, after: t0.Add(-time.Second)},
		"stale, in flight, the last one":    {stored: page(t0, nil), fetching: true, now: time.Second, after: t0, want: true},
		"stale, in flight, newer than last": {stored: page(t0, nil), fetching: true, now: time.Second, after: t0.Add(-time.Second), want: true},
		"stale, in flight, first read":      {stored: page(t0, nil), fetching: true, now: time.Second},
		"in flight, last newer than stored": {stored: page(t0, nil), fetching: true, now: time.Second, after: t0.Add(time.Millisecond)},
		"fresh error page":                  {stored: page(t0, errors.New("refused")), now: 100 * time.Millisecond},
		"error page, in flight":             {stored: page(t0, errors.New("refused")), fetching: true, now: time.Second, after: t0},
		"error page, in flight, first read": {stored: page(t0, errors.New("refused")), fetching: true, now: time.Second},
		"nothing stored":                    {now: time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cp := NewCallerPages(envoy.NewScraper(envoy.ScrapeOptions{}), DefaultPageMaxAge)
			clk := &manualClock{t: t0.Add(tc.now)}
			cp.now = clk.now
			const url = "http://127.0.0.1:1/stats/prometheus"
			if tc.stored != nil {
				cp.pages[url] = tc.stored
			}
			if tc.fetching {
				cp.fetching[url] = t0.Add(tc.now - time.Millisecond)
			}
			rep, at, ok := cp.Cached(url, hostN(0), 0, tc.after)
			if ok != tc.want {
				t.Fatalf("Cached ok = %t, want %t", ok, tc.want)
			}
			if ok && (!at.Equal(t0) || rep.Subsets["v2"].Requests != 3) {
				t.Errorf("Cached = %+v begun %v, want the stored page", rep, at)
			}
		})
	}
}

// While a caller's next request is in flight, a reader whose last page is the caller's
// failed one is told of that failure at once: the caller counts as failed this tick,
// rather than the tick waiting up to the scrape timeout for a caller that just failed.
func TestCallerPagesReadAfterFailedPageInFlight(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	refused := errors.New("refused")
	const url = "http://127.0.0.1:1/stats/prometheus"
	cp := NewCallerPages(envoy.NewScraper(envoy.ScrapeOptions{}), DefaultPageMaxAge)
	cp.now = (&manualClock{t: t0.Add(time.Second)}).now
	cp.pages[url] = &callerPage{at: t0, err: refused}
	cp.fetching[url] = t0.Add(900 * time.Millisecond)
	waiting, cancel := context.WithCancel(context.Background())
	cancel() // a read that waits for the request returns this context's error instead
	_, at, err := cp.ReadAfter(waiting, url, hostN(0), 0, t0)
	if !errors.Is(err, refused) || !at.Equal(t0) {
		t.Errorf("ReadAfter = (begun %v, %v), want the failed page's error at once (begun %v, %v)", at, err, t0, refused)
	}
}

// A caller's new page names, before it serves anyone, each host and subset whose 5xx
// count grew since the caller's previous page: nothing for a first page, for a host new
// on the page, after a failed page, or for counts that did not grow.
func TestCallerPagesFailing(t *testing.T) {
	line := func(host, subset, class string, n int) string {
		return fmt.Sprintf("envoy_cluster_upstream_rq{response_code_class=%q,cluster_name=\"outbound|9080|%s|%s\"} %d\n", class, subset, host, n)
	}
	a, b, c := hostN(0), hostN(1), hostN(2)
	pages := []struct {
		body string
		fail bool // the caller answers 500
		want []string
	}{
		{body: line(a, "v1", "2xx", 10) + line(a, "v2", "5xx", 1) + line(b, "v1", "5xx", 3), want: nil},
		{body: line(a, "v1", "2xx", 20) + line(a, "v2", "5xx", 4) + line(b, "v1", "5xx", 3) + line(c, "v2", "5xx", 9),
			want: []string{a + " v2"}},
		{body: line(a, "v1", "5xx", 1) + line(a, "v2", "5xx", 4) + line(b, "v1", "5xx", 3) + line(b, "v2", "5xx", 2) + line(c, "v2", "5xx", 10),
			want: []string{a + " v1", b + " v2", c + " v2"}},
		{fail: true},
		{body: line(a, "v2", "5xx", 50), want: nil},
		{body: line(a, "v2", "5xx", 50), want: nil},
	}
	gw := &page{}
	url, cp, clk := newPagesFor(t, gw, DefaultPageMaxAge)
	var mu sync.Mutex
	var got []string
	cp.Failing = func(host, subset string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, host+" "+subset)
	}
	for i, pg := range pages {
		clk.add(DefaultPageMaxAge)
		if pg.fail { // a failed read of the caller, as fetch stores it
			cp.store(url, &callerPage{at: clk.now(), err: errors.New("refused")}, &envoy.HostsParser{})
			continue
		}
		gw.set(pg.body)
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, _, err := cp.ReadFresh(context.Background(), url, a); err != nil {
			t.Fatalf("page %d: %v", i, err)
		}
		mu.Lock()
		slices.Sort(got)
		if !slices.Equal(got, pg.want) {
			t.Errorf("page %d: failing %q, want %q", i, got, pg.want)
		}
		mu.Unlock()
	}
}

// A rechecking reader (maxAge AnyAge) takes any page newer than its last at once, however
// long ago its request began, and makes a request only when there is none; a reader with
// no last page is held to the CallerPages' max age, as with any other maxAge.
func TestCallerPagesAnyAge(t *testing.T) {
	gw := &counting{}
	url, cp, clk, first := pagesAfterFirst(t, gw)
	ctx := context.Background()
	clk.add(time.Millisecond)
	_, second, err := cp.ReadAfter(ctx, url, hostN(0), 0, first)
	if err != nil || !second.After(first) {
		t.Fatalf("second page begun %v (%v), want after %v", second, err, first)
	}
	clk.add(10 * DefaultPageMaxAge) // the second page is long past any max age
	latest := second
	steps := []struct {
		name         string
		maxAge       time.Duration
		after        *time.Time // nil: no last page
		wantAt       *time.Time // nil: a page newer than the latest
		wantRequests int64
	}{
		{name: "AnyAge, last page the first: the second, however old", maxAge: AnyAge, after: &first, wantAt: &second, wantRequests: 2},
		{name: "default max age, last page the first: a new request", after: &first, wantRequests: 3},
		{name: "AnyAge, last page the newest: a new request", maxAge: AnyAge, after: &latest, wantRequests: 4},
		{name: "AnyAge, no last page, newest past max age: a new request", maxAge: AnyAge, wantRequests: 5},
	}
	for _, s := range steps {
		var after time.Time
		if s.after != nil {
			after = *s.after
		}
		_, at, err := cp.ReadAfter(ctx, url, hostN(0), s.maxAge, after)
		switch {
		case err != nil:
			t.Fatalf("%s: %v", s.name, err)
		case s.wantAt != nil && !at.Equal(*s.wantAt):
			t.Errorf("%s: page begun %v, want %v", s.name, at, *s.wantAt)
		case s.wantAt == nil && !at.After(latest):
			t.Errorf("%s: page begun %v, want a new page (after %v)", s.name, at, latest)
		}
		if got := gw.n.Load(); got != s.wantRequests {
			t.Errorf("%s: %d requests, want %d", s.name, got, s.wantRequests)
		}
		if at.After(latest) {
			latest = at
		}
		clk.add(10 * DefaultPageMaxAge)
	}
}

// Prefetch starts the next page in the background and returns at once; it starts none
// while a page newer than the reader's last is there, nor a second while one is in
// flight. The page it fetched calls Failing when the failures grew, and serves the next
// read without a request.
func TestCallerPagesPrefetch(t *testing.T) {
	gw := &gated{release: make(chan struct{}), hold: 2}
	url, cp, clk, first := pagesAfterFirst(t, gw)
	failing := make(chan string, 8)
	cp.Failing = func(host, subset string) { failing <- host + " " + subset }
	clk.add(time.Millisecond)
	cp.Prefetch(url, first.Add(-time.Nanosecond))
	if got := gw.n.Load(); got != 1 {
		t.Fatalf("Prefetch for a reader whose last page is older than the newest: %d requests, want none more than the first", got)
	}
	gw.set(manyHosts(1, 2))
	returned := make(chan struct{})
	go func() {
		cp.Prefetch(url, first) // the gateway holds this request until released
		cp.Prefetch(url, first) // in flight: nothing more
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("Prefetch waited for the request it started")
	}
	close(gw.release)
	deadline := time.Now().Add(10 * time.Second)
	var rep envoy.Report
	var at time.Time
	// While the request is in flight, Cached serves the first page again.
	for !at.After(first) {
		if time.Now().After(deadline) {
			t.Fatal("the prefetched page never landed")
		}
		time.Sleep(time.Millisecond)
		rep, at, _ = cp.Cached(url, hostN(0), AnyAge, first)
	}
	if rep.Subsets["v2"].Rq5xx != 2 || !at.After(first) {
		t.Errorf("after the prefetch: v2 5xx %d on a page begun %v, want 2 on a page after %v", rep.Subsets["v2"].Rq5xx, at, first)
	}
	cp.Prefetch(url, first) // the reader has not read the prefetched page yet: nothing
	if got := gw.n.Load(); got != 2 {
		t.Errorf("%d requests, want 2 (one prefetch)", got)
	}
	select {
	case got := <-failing:
		if want := hostN(0) + " v2"; got != want || len(failing) != 0 {
			t.Errorf("Failing(%q) and %d more, want only %q", got, len(failing), want)
		}
	default:
		t.Error("the prefetched page with more v2 failures did not call Failing")
	}
}
