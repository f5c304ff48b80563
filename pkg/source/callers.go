package source

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/cacheindex"
	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// Callers reads the caller side: the proxies of the pods named by the stats-from
// annotation (typically the ingress gateway). Each caller's outbound|PORT|SUBSET|HOST
// cluster stats (or, without those, its istio_requests_total{reporter="source"}) are
// attributed to their subset under the caller's PodIdentity. This counts the failures
// that never reach a subset pod (connect failures, timeouts, 503 UF/UH). gRPC failures,
// which the cluster stats count as 2xx, come from the page's Istio metrics (grpc.go).
//
// Every Service reading a caller reads the same host-independent page through Pages, so
// a gateway pod in front of N Services is scraped and parsed once per tick, not N times.
type Callers struct {
	// Reader lists the caller pods.
	Reader client.Reader
	// Index, when set, finds the callers in the pod informer's store by one label of their
	// selector (not by listing the namespace through Reader), and every Service reading
	// them gets the same copies until they change.
	Index *cacheindex.Index
	// Scraper fetches the pages; it bounds concurrency, time and size.
	Scraper *envoy.Scraper
	// Port and Path locate the callers' stats endpoint (defaults DefaultPort, DefaultPath).
	Port int
	Path string
	// Pages shares the callers' pages between Services; nil means one made on first use
	// from Scraper with DefaultPageMaxAge.
	Pages *CallerPages

	pagesOnce sync.Once
	copiesMu  sync.Mutex
	copies    map[string]*cacheindex.PodCopies // by namespace and selector
}

// callerRead is the outcome of scraping one caller.
type callerRead struct {
	id  string
	rep envoy.Report
	err error
}

// Read lists the callers and scrapes each one concurrently. A caller that cannot be read
// counts as Failed in every subset. When no caller that was read has stats for the host's
// subsets, every subset gets Failed = number of callers and Note says why: that is missing
// data, never zero traffic.
func (c *Callers) Read(ctx context.Context, req Request) (Snapshot, error) {
	sf := req.StatsFrom
	if sf == nil || sf.Selector == nil {
		return Snapshot{}, fmt.Errorf("reading caller-side stats of %s: no stats-from selector", req.Host)
	}
	if c.Reader == nil || c.Scraper == nil {
		return Snapshot{}, fmt.Errorf("reading caller-side stats of %s: no pod reader or scraper", req.Host)
	}
	ns := sf.Namespace
	if ns == "" {
		ns = req.Namespace
	}
	callers, err := c.listCallers(ctx, sf.Selector, ns)
	if err != nil {
		return Snapshot{}, err
	}
	out := newSubsets(req)
	if len(callers) == 0 {
		return Snapshot{Subsets: out, Note: fmt.Sprintf("no Ready pod with an IP matches stats-from %q in namespace %s, so no caller-side stats could be read", sf.Selector, ns)}, nil
	}
	reads := c.scrape(ctx, req, callers)
	versions := grpcVersions(req)
	for i := range reads {
		reads[i].rep = reads[i].rep.MoveGRPCFailures(versions)
	}

	wanted := func(s string) bool { _, ok := out[s]; return ok || len(req.Subsets) == 0 }
	var failed, relevant int
	var firstErr error
	others := map[string]bool{}
	for _, r := range reads {
		switch {
		case r.err != nil:
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
		case hasSubset(r.rep, wanted):
			relevant++
		default:
			for s := range r.rep.Subsets {
				others[s] = true
			}
		}
	}
	if len(req.Subsets) == 0 {
		for _, r := range reads {
			for s := range r.rep.Subsets {
				if _, ok := out[s]; !ok {
					out[s] = SubsetSnapshot{OK: map[string]traffic.Counts{}}
				}
			}
		}
	}
	var notes []string
	if failed > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d caller pods could not be read (first error: %v)", failed, len(callers), firstErr))
	}
	if relevant == 0 {
		if failed < len(callers) {
			notes = append(notes, noStatsNote(req, sf.Selector.String(), ns, len(callers)-failed, slices.Sorted(maps.Keys(others))))
		}
		for s := range out {
			out[s] = SubsetSnapshot{OK: map[string]traffic.Counts{}, Failed: len(callers)}
		}
		return Snapshot{Subsets: out, Note: strings.Join(notes, "; ")}, nil
	}
	for _, r := range reads {
		for s, snap := range out {
			if r.err != nil {
				snap.Failed++
				out[s] = snap
				continue
			}
			// With `usedonly`, a subset cluster nobody has sent to yet is absent: zero.
			snap.OK[r.id] = r.rep.Subsets[s]
		}
	}
	return Snapshot{Subsets: out, Note: strings.Join(notes, "; ")}, nil
}

// listCallers returns the Ready caller pods that have an IP.
// With an Index, the list is shared by every reader: read it, never change it.
func (c *Callers) listCallers(ctx context.Context, sel labels.Selector, ns string) ([]corev1.Pod, error) {
	if c.Index == nil {
		return ReadyPods(ctx, c.Reader, sel, ns)
	}
	found, err := c.Index.Pods(ns, sel)
	if err != nil {
		return nil, fmt.Errorf("listing stats-from pods %q in namespace %s: %w", sel, ns, err)
	}
	found = slices.DeleteFunc(found, func(p *corev1.Pod) bool { return !serving(p) })
	key := ns + "/" + sel.String()
	c.copiesMu.Lock()
	copies := c.copies[key]
	if copies == nil {
		if c.copies == nil {
			c.copies = map[string]*cacheindex.PodCopies{}
		}
		copies = &cacheindex.PodCopies{}
		c.copies[key] = copies
	}
	c.copiesMu.Unlock()
	return copies.Of(found), nil
}

// ReadyPods lists the pods matching sel in ns that are Ready, not being deleted, and have an IP.
// From an informer cache, the pods share their maps and slices with the cache (no deep
// copy: every tick lists its callers): the caller must not change them.
func ReadyPods(ctx context.Context, r client.Reader, sel labels.Selector, ns string) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := r.List(ctx, list, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: sel}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing stats-from pods %q in namespace %s: %w", sel, ns, err)
	}
	return slices.DeleteFunc(list.Items, func(p corev1.Pod) bool { return !serving(&p) }), nil
}

// serving says whether p answers: Ready, not being deleted, and with an IP.
func serving(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(p)
}

// scrape reads every caller's page concurrently (the scraper bounds concurrency) and
// takes req.Host's Report from each.
func (c *Callers) scrape(ctx context.Context, req Request, callers []corev1.Pod) []callerRead {
	pages := c.pages()
	maxAge := req.MaxAge
	if req.Recheck {
		maxAge = AnyAge
	}
	reads := make([]callerRead, len(callers))
	urls := make([]string, len(callers))
	marks := make([]time.Time, len(callers))
	var wg sync.WaitGroup
	for i := range callers {
		p := &callers[i]
		urls[i] = envoy.CallerStatsURL(endpointURL(p.Status.PodIP, c.Port, c.Path))
		if !req.Fresh {
			// Most ticks find every caller's page read already: no goroutine to wait on.
			if rep, at, ok := pages.Cached(urls[i], req.Host, maxAge, req.Seen.last(urls[i])); ok {
				reads[i], marks[i] = callerRead{id: PodIdentity(p), rep: rep}, at
				continue
			}
		}
		wg.Go(func() {
			var rep envoy.Report
			var err error
			if req.Fresh {
				rep, marks[i], err = pages.ReadFresh(ctx, urls[i], req.Host)
			} else {
				rep, marks[i], err = pages.ReadAfter(ctx, urls[i], req.Host, maxAge, req.Seen.last(urls[i]))
			}
			reads[i] = callerRead{id: PodIdentity(p), rep: rep, err: err}
		})
	}
	wg.Wait()
	if req.Seen != nil {
		req.Seen.replace(urls, marks)
	}
	return reads
}

// pages returns the shared pages, made on first use when none were set.
func (c *Callers) pages() *CallerPages {
	c.pagesOnce.Do(func() {
		if c.Pages == nil {
			c.Pages = NewCallerPages(c.Scraper, 0)
		}
	})
	return c.Pages
}

// ReadAhead starts the next page of each caller req.Seen read last, unless its request
// is in flight or a page newer than the one the reader read last is there
// (CallerPages.Prefetch). A rollout rechecking a suspect canary calls it after each
// decision that asks for a recheck: its callers' pages then come back to back
// while the recheck lasts, a page that shows more failures wakes it
// (CallerPages.Failing), and its rechecks take each page as it lands (Request.Recheck)
// instead of each starting a request and waiting for it (bench/scale at 1,000: a page
// takes 100–250 ms).
func (c *Callers) ReadAhead(req Request) {
	if req.Seen == nil || c.Scraper == nil {
		return
	}
	pages := c.pages()
	for url, last := range req.Seen.marks() {
		pages.Prefetch(url, last)
	}
}

// noStatsNote explains precisely why the callers gave nothing for the host.
func noStatsNote(req Request, sel, ns string, answered int, others []string) string {
	who := fmt.Sprintf("%d caller pod(s) matching stats-from %q in namespace %s", answered, sel, ns)
	if len(others) > 0 {
		return fmt.Sprintf("%s report %s only under subsets %s, none of the rollout's subsets %s: the counts are missing, not zero",
			who, req.Host, strings.Join(others, ", "), strings.Join(slices.Sorted(maps.Keys(req.Subsets)), ", "))
	}
	return fmt.Sprintf("%s answered but expose no stats for the subset clusters of %s (outbound|<port>|<subset>|%s) nor istio_requests_total{reporter=\"source\"} for it: "+
		"the counts are missing, not zero. Istio trims per-cluster stats by default; on the caller pods set the annotation "+
		"sidecar.istio.io/statsInclusionPrefixes: \"cluster.outbound\" or proxy.istio.io/config proxyStatsMatcher inclusionRegexps: [%q]. "+
		"If they are included already, no request has gone to %s through these callers yet",
		who, req.Host, req.Host, `cluster\.outbound\|[0-9]+\|[^|]*\|`+regexp.QuoteMeta(req.Host)+`.*`, req.Host)
}

// hasSubset reports whether rep names a subset for which wanted is true.
func hasSubset(rep envoy.Report, wanted func(string) bool) bool {
	for s := range rep.Subsets {
		if wanted(s) {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
