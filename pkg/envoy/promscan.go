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
	name   []byte
	labels []labelSpan
	value  float64
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

// scanPrometheus calls fn for every sample line whose metric name starts with one of
// prefixes (all lines when prefixes is nil). Other lines are skipped after a prefix check,
// without allocating; a line that cannot be a sample or comment is an error.
func scanPrometheus(data []byte, prefixes []string, fn func(*sample) error) error {
	s := sample{labels: make([]labelSpan, 0, 32)}
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
		if prefixes != nil && !hasAnyPrefix(line, prefixes) {
			continue
		}
		if err := parseSample(line, &s); err != nil {
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

// parseSample parses `name{l="v",…} value [timestamp]` into s.
func parseSample(line []byte, s *sample) error {
	n := promNameLen(line)
	s.name = line[:n]
	s.labels = s.labels[:0]
	i := skipBlank(line, n)
	if i < len(line) && line[i] == '{' {
		var err error
		if i, err = parseLabels(line, i+1, s); err != nil {
			return err
		}
		i = skipBlank(line, i)
	} else if i == n {
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

// parseLabels parses the label pairs after '{' at i and returns the index after '}'.
func parseLabels(line []byte, i int, s *sample) (int, error) {
	for {
		i = skipBlank(line, i)
		if i >= len(line) {
			return 0, errUnterminated
		}
		if line[i] == '}' {
			return i + 1, nil
		}
		if !isLabelStart(line[i]) {
			return 0, errBadLabel
		}
		j := i + 1
		for j < len(line) && isLabelChar(line[j]) {
			j++
		}
		name := line[i:j]
		i = skipBlank(line, j)
		if i >= len(line) || line[i] != '=' {
			return 0, errBadLabel
		}
		i = skipBlank(line, i+1)
		if i >= len(line) || line[i] != '"' {
			return 0, errBadLabel
		}
		i++
		start, esc := i, false
		for i < len(line) && line[i] != '"' {
			if line[i] == '\\' {
				esc = true
				i++
			}
			i++
		}
		if i >= len(line) {
			return 0, errUnterminated
		}
		if len(s.labels) == maxLabels {
			return 0, errTooMany
		}
		s.labels = append(s.labels, labelSpan{name: name, value: line[start:i], escaped: esc})
		i = skipBlank(line, i+1)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		if i < len(line) && line[i] == '}' {
			return i + 1, nil
		}
		return 0, errUnterminated
	}
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

// promNameLen returns the length of the metric name at the start of line.
func promNameLen(line []byte) int {
	i := 0
	for i < len(line) && (isNameStart(line[i]) || isDigit(line[i])) {
		i++
	}
	return i
}
