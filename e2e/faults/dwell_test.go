package faults

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/record"
)

// stepRecords are the rollout records the controller logged for namespace's Service that
// move through the schedule (started, step-advanced, promoted), in the log's order.
func stepRecords(t *testing.T, namespace string) []record.Record {
	t.Helper()
	f, err := os.Open(ctrlRun.LogPath)
	if err != nil {
		t.Fatalf("reading the controller log: %v", err)
	}
	defer f.Close()
	var out []record.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		var line struct {
			Logger string `json:"logger"`
			record.Record
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Logger != "rollout" || line.Namespace != namespace {
			continue
		}
		switch line.Event {
		case record.Started, record.StepAdvanced, record.Promoted:
			out = append(out, line.Record)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the controller log: %v", err)
	}
	return out
}

// checkDwells fails unless each step was left no sooner than its dwell after its weight
// reached the VirtualService: the decision to leave step i (the next record's decidedAt)
// against step i's write (its record's writtenAt). A dwell counted from the decision to
// enter a step, rather than from its write, lets a write held up by the API server (as
// while etcd is down) eat the next step's dwell.
func checkDwells(t *testing.T, recs []record.Record, dwells []time.Duration) {
	t.Helper()
	if len(recs) != len(dwells)+1 {
		t.Fatalf("%d step records (started, step-advanced, promoted) in the controller log, want %d: %+v", len(recs), len(dwells)+1, recs)
	}
	for i, rec := range recs[:len(recs)-1] {
		if rec.Times.WrittenAt == nil {
			t.Fatalf("the %s record of step %d has no writtenAt", rec.Event, rec.Step.Index)
		}
		held := recs[i+1].Times.DecidedAt.Sub(*rec.Times.WrittenAt)
		t.Logf("step %d (%d%%): written %s after its decision, left %s after its write (dwell %s)", rec.Step.Index, rec.Weight.After,
			rec.Times.WrittenAt.Sub(rec.Times.DecidedAt).Round(time.Millisecond), held.Round(time.Millisecond), dwells[i])
		if held < dwells[i] {
			t.Errorf("step %d (%d%%) was left %s after its weight was written, before its %s dwell (written %s, next decided %s)",
				rec.Step.Index, rec.Weight.After, held.Round(time.Millisecond), dwells[i],
				rec.Times.WrittenAt.Format(time.StampMicro), recs[i+1].Times.DecidedAt.Format(time.StampMicro))
		}
	}
}
