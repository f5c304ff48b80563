package notify

import (
	"slices"
	"testing"

	"github.com/sluicedev/sluice/pkg/record"
)

func TestQueueDropsOldestNonRollback(t *testing.T) {
	ev := map[byte]record.Event{'s': record.StepAdvanced, 'r': record.RolledBack, 'p': record.Promoted}
	mk := func(id string) item { return item{rec: record.Record{ID: id, Event: ev[id[0]]}} }
	tests := map[string]struct {
		size        int
		push        []string
		wantQueue   []string
		wantDropped []string
	}{
		"room for all":                             {size: 3, push: []string{"s1", "r2"}, wantQueue: []string{"s1", "r2"}},
		"full: the oldest non-rollback goes":       {size: 3, push: []string{"s1", "r2", "s3", "p4"}, wantQueue: []string{"r2", "s3", "p4"}, wantDropped: []string{"s1"}},
		"rollbacks stay while others can go":       {size: 3, push: []string{"r1", "r2", "s3", "s4", "s5"}, wantQueue: []string{"r1", "r2", "s5"}, wantDropped: []string{"s3", "s4"}},
		"a rollback pushes out a non-rollback":     {size: 2, push: []string{"s1", "r2", "r3"}, wantQueue: []string{"r2", "r3"}, wantDropped: []string{"s1"}},
		"only rollbacks: a newcomer gives way":     {size: 2, push: []string{"r1", "r2", "s3"}, wantQueue: []string{"r1", "r2"}, wantDropped: []string{"s3"}},
		"only rollbacks: the oldest rollback":      {size: 2, push: []string{"r1", "r2", "r3"}, wantQueue: []string{"r2", "r3"}, wantDropped: []string{"r1"}},
		"a queue of one keeps the latest rollback": {size: 1, push: []string{"r1", "s2", "r3", "s4"}, wantQueue: []string{"r3"}, wantDropped: []string{"s2", "r1", "s4"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			q := queue{size: tc.size}
			var dropped []string
			for _, id := range tc.push {
				if old, ok := q.push(mk(id)); ok {
					dropped = append(dropped, old.rec.ID)
				}
			}
			var got []string
			for it, ok := q.pop(); ok; it, ok = q.pop() {
				got = append(got, it.rec.ID)
			}
			if !slices.Equal(got, tc.wantQueue) || !slices.Equal(dropped, tc.wantDropped) {
				t.Errorf("queue %v dropped %v, want %v and %v", got, dropped, tc.wantQueue, tc.wantDropped)
			}
		})
	}
}

func TestRecentRemembersAWindow(t *testing.T) {
	r := newRecent(2)
	steps := []struct {
		sink, id string
		isNew    bool
	}{
		{"a", "1", true}, {"a", "1", false}, {"b", "1", true}, {"a", "2", true},
		{"a", "1", true}, // forgotten: the window holds two pairs
		{"a", "", true}, {"a", "", true},
	}
	for i, s := range steps {
		if got := r.add(s.sink, s.id); got != s.isNew {
			t.Errorf("step %d: add(%q, %q) = %v, want %v", i, s.sink, s.id, got, s.isNew)
		}
	}
}
