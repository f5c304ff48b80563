package source

import (
	"maps"
	"sync"
	"time"
)

// PageMarks is one reader's memory of the caller pages it was served: per caller page URL,
// when the request of the page it read last began. Passed as Request.Seen, it makes each
// read take a page newer than the reader's previous one (see CallerPages.ReadAfter). The
// zero value is ready to use; safe for concurrent use.
type PageMarks struct {
	mu sync.Mutex
	at map[string]time.Time
}

// last returns when the page of url this reader read last began; zero when none (or
// for no reader: a nil PageMarks).
func (m *PageMarks) last(url string) time.Time {
	if m == nil {
		return time.Time{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.at[url]
}

// marks returns a copy of the marks: per caller page URL the reader read last, when that
// page began.
func (m *PageMarks) marks() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.at)
}

// replace keeps exactly the marks of urls (at[i] for urls[i]): the pages of the callers
// read this time, so that callers gone since are forgotten. Zero times (reads that got no
// page) are left out. The map is reused: a tick allocates nothing here.
func (m *PageMarks) replace(urls []string, at []time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == nil {
		m.at = make(map[string]time.Time, len(urls))
	}
	clear(m.at)
	for i, url := range urls {
		if !at[i].IsZero() {
			m.at[url] = at[i]
		}
	}
}
