package envoy

import "bytes"

// labelMemo lets a sample line reuse the parse of the previous line's labels. Istio's
// histogram series repeat ~25 labels on every _bucket, _sum and _count line and differ
// only in the last one (le): when a line's label bytes start with the previous line's up
// to the end of its last-but-one label, that prefix parses exactly as it did there, so
// its labels (still in sample.labels, aliasing the earlier line in the same page) are
// kept and parsing resumes after it.
type labelMemo struct {
	// prev is the previous line's label bytes (from after '{'); nil when there is none.
	prev []byte
	// marks[k] is where label k of prev ended (after its closing quote, from after '{')
	// and how many labels the sample had recorded by then.
	marks []labelMark
}

type labelMark struct{ end, recorded int }

// resume matches cur (a line's label bytes, from after '{') against the previous line.
// On a match it keeps that prefix's labels in s and returns the offset in cur after it
// and the number of labels in it; otherwise 0, 0.
func (m *labelMemo) resume(cur []byte, s *sample) (int, int) {
	n := len(m.marks) - 1 // labels in the prefix: all of prev's but the last
	if m.prev == nil || n < 1 {
		m.marks = m.marks[:0]
		return 0, 0
	}
	cut := m.marks[n-1]
	if len(cur) < cut.end || !bytes.Equal(cur[:cut.end], m.prev[:cut.end]) {
		m.marks = m.marks[:0]
		return 0, 0
	}
	s.labels = s.labels[:cut.recorded]
	m.marks = m.marks[:n]
	return cut.end, n
}

// mark records that a label ended at end (from after '{') with recorded labels in the sample.
func (m *labelMemo) mark(end, recorded int) {
	m.marks = append(m.marks, labelMark{end, recorded})
}

// remember makes the line just parsed (its label bytes from after '{') the previous line.
func (m *labelMemo) remember(labels []byte) { m.prev = labels }

// forget drops the previous line (after a line without labels).
func (m *labelMemo) forget() { m.prev = nil }
