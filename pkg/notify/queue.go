package notify

import (
	"time"

	"github.com/sluicedev/sluice/pkg/record"
)

// item is one record waiting for one sink.
type item struct {
	rec  record.Record
	sink Sink
	// queued is when Send queued it.
	queued time.Time
}

func (it item) rollback() bool { return it.rec.Event == record.RolledBack }

// queue is a sink's bounded FIFO of items. When full, a push drops the oldest item that
// is not a rollback, counting the pushed item itself as the newest candidate; a rollback
// is dropped only when nothing else could be.
type queue struct {
	items []item
	size  int
}

// push adds it, and returns the item it dropped to make room, if any.
func (q *queue) push(it item) (dropped item, ok bool) {
	if len(q.items) < q.size {
		q.items = append(q.items, it)
		return item{}, false
	}
	for i, old := range q.items {
		if !old.rollback() {
			q.items = append(q.items[:i], q.items[i+1:]...)
			q.items = append(q.items, it)
			return old, true
		}
	}
	if !it.rollback() { // the queue holds only rollbacks: the newcomer gives way
		return it, true
	}
	old := q.items[0]
	q.items = append(q.items[1:], it)
	return old, true
}

// pop removes and returns the oldest item.
func (q *queue) pop() (item, bool) {
	if len(q.items) == 0 {
		return item{}, false
	}
	it := q.items[0]
	q.items[0] = item{}
	q.items = q.items[1:]
	return it, true
}

// drain removes and returns every item.
func (q *queue) drain() []item {
	out := q.items
	q.items = nil
	return out
}
