package envoy

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// maxLabels bounds the labels of one sample (Istio's standard metrics have about 25).
const maxLabels = 128

// labelSpan is one label of a sample; name and value alias the page, value still escaped.
type labelSpan struct {
	name, value []byte
	escaped     bool
}

// sample is one Prometheus sample line. Its slices alias the page and are reused per line.
type sample struct {
	name []byte
	// labels are the labels of the line in its order (only those readLabel names when onlyRead).
	labels   []labelSpan
	value    float64
	onlyRead bool
	memo     labelMemo
}

// label returns the unescaped value of label name. It allocates only when the value has escapes.
func (s *sample) label(name string) ([]byte, bool) {
	for i := range s.labels {
		l := &s.labels[i]
		if string(l.name) == name {
			if l.escaped {
				return unescapeLabel(l.value), true
			}
			return l.value, true
		}
	}
	return nil, false
}

// unescapeLabel decodes the \\, \" and \n escapes of a Prometheus label value.
func unescapeLabel(v []byte) []byte {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			switch v[i] {
			case 'n':
				c = '\n'
			default:
				c = v[i]
			}
		}
		out = append(out, c)
	}
	return out
}

// scanSpec says which lines and labels a scan reads.
type scanSpec struct {
	// prefixes are the metric-name prefixes of the lines read (nil: all lines); a line
	// that starts with none of them is skipped before anything else is looked at.
	prefixes []string
	// family, when set, is asked the metric name of a line that passed prefixes before its
	// labels are parsed: a name it rejects is skipped unparsed.
	family func(name []byte) bool
	// onlyRead records only the labels promAgg reads (readLabel) in a sample; the rest are
	// parsed, not kept. Otherwise a sample has all its labels.
	onlyRead bool
}

// scanPrometheus calls fn for every sample line whose metric name starts with one of
// prefixes (all lines when prefixes is nil), with all its labels.
func scanPrometheus(data []byte, prefixes []string, fn func(*sample) error) error {
	return scanPrometheusWith(data, scanSpec{prefixes: prefixes}, fn)
}

// scanPrometheusWith calls fn for every sample line spec reads. Other lines are skipped
// after a prefix (and family) check, without allocating; a line that cannot be a sample or
// comment is an error.
func scanPrometheusWith(data []byte, spec scanSpec, fn func(*sample) error) error {
	s := sample{labels: make([]labelSpan, 0, 32), onlyRead: spec.onlyRead, memo: labelMemo{marks: make([]labelMark, 0, 32)}}
	lineNo := 0
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		lineNo++
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if !isNameStart(line[0]) {
			line = bytes.TrimLeft(line, " \t\r")
			if len(line) == 0 || line[0] == '#' {
				continue
			}
			if !isNameStart(line[0]) {
				return fmt.Errorf("parsing prometheus stats: line %d: not a sample or comment", lineNo)
			}
		}
		if spec.prefixes != nil && !hasAnyPrefix(line, spec.prefixes) {
			continue
		}
		n := promNameLen(line)
		if spec.family != nil && !spec.family(line[:n]) {
			continue
		}
		if err := parseSample(line, n, &s); err != nil {
			return fmt.Errorf("parsing prometheus stats: line %d: %w", lineNo, err)
		}
		if err := fn(&s); err != nil {
			return fmt.Errorf("parsing prometheus stats: line %d: %w", lineNo, err)
		}
	}
	return nil
}

func hasAnyPrefix(line []byte, prefixes []string) bool {
	for _, p := range prefixes {
		if len(line) >= len(p) && line[0] == p[0] && string(line[:len(p)]) == p {
			return true
		}
	}
	return false
}

var (
	errUnterminated = errors.New("unterminated label set")
	errBadLabel     = errors.New("malformed label")
	errNoValue      = errors.New("missing sample value")
	errTooMany      = errors.New("too many labels")
)

// parseSample parses `name{l="v",…} value [timestamp]` into s; n is the name's length.
func parseSample(line []byte, n int, s *sample) error {
	s.name = line[:n]
	s.labels = s.labels[:0]
	i := skipBlank(line, n)
	if i < len(line) && line[i] == '{' {
		var err error
		if i, err = parseLabels(line, i+1, s); err != nil {
			return err
		}
		i = skipBlank(line, i)
	} else if s.memo.forget(); i == n {
		return errNoValue
	}
	j := i
	for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\r' {
		j++
	}
	if j == i {
		return errNoValue
	}
	v, err := parseNumber(line[i:j])
	if err != nil {
		return err
	}
	s.value = v
	return nil
}

// parseLabels parses the label pairs after '{' at i and returns the index after '}'. A
// line whose label bytes begin like the previous line's resumes after that common prefix
// (see labelMemo): the same bytes parse the same way.
func parseLabels(line []byte, i int, s *sample) (int, error) {
	base := i
	i, count := s.memo.resume(line[base:], s)
	i += base
	plain := bytes.IndexByte(line[i:], '\\') < 0 // no escapes left: a value ends at the next quote
	for ; ; count++ {
		if count > 0 { // after a label's closing quote
			i = skipBlank(line, i)
			if i >= len(line) || line[i] != ',' && line[i] != '}' {
				return 0, errUnterminated
			}
			if line[i] == '}' {
				s.memo.remember(line[base:])
				return i + 1, nil
			}
			i++
		}
		i = skipBlank(line, i)
		if i >= len(line) {
			return 0, errUnterminated
		}
		if line[i] == '}' {
			s.memo.remember(line[base:])
			return i + 1, nil
		}
		end, err := parseLabel(line, i, plain, count, s)
		if err != nil {
			return 0, err
		}
		i = end + 1
		s.memo.mark(i-base, len(s.labels))
	}
}

// parseLabel parses the label `name="value"` at i as label number count of its sample,
// records it in s when wanted, and returns the index of its closing quote.
func parseLabel(line []byte, i int, plain bool, count int, s *sample) (int, error) {
	if !isLabelStart(line[i]) {
		return 0, errBadLabel
	}
	j := i + 1 + labelNameLen(line[i+1:])
	name := line[i:j]
	var (
		start, end int
		esc        bool
		err        error
	)
	if q := bytes.IndexByte(line[min(j+2, len(line)):], '"'); plain && q >= 0 && line[j] == '=' && line[j+1] == '"' {
		start, end = j+2, j+2+q // the common layout, name="value" without escapes
	} else if start, end, esc, err = labelValue(line, j, plain); err != nil {
		return 0, err
	}
	if count == maxLabels {
		return 0, errTooMany
	}
	if !s.onlyRead || readLabel(name) {
		s.labels = append(s.labels, labelSpan{name: name, value: line[start:end], escaped: esc})
	}
	return end, nil
}

// labelValue parses `= "value"` after a label name ending at i and returns the value's
// bounds in line (end is at the closing quote) and whether it has escapes; plain says the
// rest of the line has no backslash.
func labelValue(line []byte, i int, plain bool) (start, end int, esc bool, err error) {
	i = skipBlank(line, i)
	if i >= len(line) || line[i] != '=' {
		return 0, 0, false, errBadLabel
	}
	i = skipBlank(line, i+1)
	if i >= len(line) || line[i] != '"' {
		return 0, 0, false, errBadLabel
	}
	start = i + 1
	q := bytes.IndexByte(line[start:], '"')
	if q < 0 {
		return 0, 0, false, errUnterminated
	}
	if plain || bytes.IndexByte(line[start:start+q], '\\') < 0 {
		return start, start + q, false, nil
	}
	for i = start; i < len(line) && line[i] != '"'; i++ {
		if line[i] == '\\' {
			i++
		}
	}
	if i >= len(line) {
		return 0, 0, false, errUnterminated
	}
	return start, i, true, nil
}

// parseNumber parses a sample value or le bound; plain integers take a fast path.
func parseNumber(b []byte) (float64, error) {
	if len(b) > 0 && len(b) <= 15 {
		var n uint64
		i := 0
		for ; i < len(b) && isDigit(b[i]); i++ {
			n = n*10 + uint64(b[i]-'0')
		}
		if i == len(b) {
			return float64(n), nil
		}
	}
	switch string(b) {
	case "+Inf", "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", b)
	}
	return v, nil
}

// toCount converts a counter sample to an integer count.
func toCount(v float64) (uint64, error) {
	if math.IsNaN(v) || v < 0 || v >= 1<<63 {
		return 0, fmt.Errorf("counter value %v out of range", v)
	}
	return uint64(v), nil
}

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return i
}

func isNameStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isLabelStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isLabelChar(c byte) bool { return isLabelStart(c) || isDigit(c) }

// labelNameLen returns the number of label-name bytes at the start of b.
func labelNameLen(b []byte) int {
	for k, c := range b {
		if !labelChar[c] {
			return k
		}
	}
	return len(b)
}

// labelChar[c] is isLabelChar(c).
var labelChar = func() (t [256]bool) {
	for c := range t {
		t[c] = isLabelChar(byte(c))
	}
	return t
}()

// promNameLen returns the length of the metric name at the start of line.
func promNameLen(line []byte) int {
	i := 0
	for i < len(line) && (isNameStart(line[i]) || isDigit(line[i])) {
		i++
	}
	return i
}
