package envoy

import (
	"bytes"
	"testing"
)

// The second and later lines of a histogram series reuse the first line's label spans
// (they alias the first line), and only the last label is parsed again.
func TestLabelMemoResumes(t *testing.T) {
	page := []byte(memoSeries(`reporter="destination",destination_version="v1",response_code="200"`, `le="1"`, `le="5"`))
	first := bytes.Index(page, []byte(`"destination"`)) + 1 // the first line's reporter value
	lines := 0
	err := scanPrometheusWith(page, scanSpec{onlyRead: true}, func(s *sample) error {
		lines++
		reporter := &s.labels[0]
		if string(reporter.name) != "reporter" || string(reporter.value) != "destination" {
			t.Fatalf("line %d: first label %s=%s", lines, reporter.name, reporter.value)
		}
		if lines > 1 && &reporter.value[0] != &page[first] {
			t.Errorf("line %d parsed its common labels again, want them reused from line 1", lines)
		}
		if lines <= 2 {
			if le, ok := s.label("le"); !ok || len(le) == 0 {
				t.Errorf("line %d: no le", lines)
			}
		} else if _, ok := s.label("le"); ok {
			t.Errorf("line %d (_sum/_count) has an le label", lines)
		}
		return nil
	})
	if err != nil || lines != 4 {
		t.Fatalf("scan: %d lines, %v", lines, err)
	}
}
