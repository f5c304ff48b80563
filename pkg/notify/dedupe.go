package notify

// recent remembers the last n (sink, record ID) pairs queued, so a transition decided
// again (a retried reconcile sends its record again, with the same ID) is sent once.
type recent struct {
	seen map[string]struct{}
	ring []string
	next int
}

func newRecent(n int) *recent {
	return &recent{seen: make(map[string]struct{}, n), ring: make([]string, n)}
}

// add records (sink, id) and reports whether it is new. A record without an ID is always
// new: there is nothing to recognise it by.
func (r *recent) add(sink, id string) bool {
	if id == "" {
		return true
	}
	k := sink + "\x00" + id
	if _, ok := r.seen[k]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.seen, old)
	}
	r.ring[r.next] = k
	r.next = (r.next + 1) % len(r.ring)
	r.seen[k] = struct{}{}
	return true
}
