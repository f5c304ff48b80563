package message

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sluicedev/sluice/pkg/record"
)

// Bounds on one value shown in a chat message. Record strings come partly from Service
// annotations that CI writes (sluice.dev/release-*), so they may be hostile: megabytes
// long, invalid UTF-8, markup. Every value is made valid UTF-8, put on one line and cut
// to these lengths before a format escapes it.
const (
	maxValue   = 256  // bytes of one value (commit, pipeline, url, summary, image, …)
	maxMessage = 1024 // bytes of the record's message
	maxImages  = 10   // images listed per subset; the rest become "+N more"
	// maxMachineValue bounds each string of the record sent as data (webhook,
	// CloudEvents), where values keep their newlines but not their megabytes.
	maxMachineValue = 4096
	// maxMachineImages bounds the images listed per subset in data.
	maxMachineImages = 64
)

const ellipsis = "…"

// oneLine returns s as valid UTF-8 on one line: control and format characters (newlines,
// tabs, bidirectional overrides, zero-width joiners, line and paragraph separators) become
// spaces, so no value can start a line of its own (a heading, a quote, a list) or reorder
// the text around it.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

// line is oneLine(s) cut to max bytes. A long s is cut first to a few times max, so a
// megabyte value costs no more than a short one.
func line(s string, limit int) string {
	return cut(oneLine(cut(s, 4*limit)), limit)
}

// cut returns s cut to at most max bytes on a rune boundary, ending in "…" when cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	if max < len(ellipsis) {
		return ""
	}
	n := max - len(ellipsis)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + ellipsis
}

// cutRunes returns s cut to at most max runes, ending in "…" when cut.
func cutRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	if max < 1 {
		return ""
	}
	i, n := 0, 0
	for i = range s {
		if n == max-1 {
			break
		}
		n++
	}
	return s[:i] + ellipsis
}

// mentionWords are the "everyone" mentions of the chat tools. A value never notifies a
// whole group: "@" before one of them gets a zero-width space after it.
var mentionWords = []string{"all", "here", "channel", "everyone", "所有人"}

// breakMentions puts a zero-width space after every "@" that starts a group mention.
func breakMentions(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] != '@' {
			continue
		}
		rest := strings.ToLower(s[i+1:])
		for _, w := range mentionWords {
			if strings.HasPrefix(rest, w) {
				b.WriteString("\u200b")
				break
			}
		}
	}
	return b.String()
}

// chatView is r with every string made one valid, bounded line: what templates render
// for people.
func chatView(r record.Record) record.Record {
	v := func(s string) string { return line(s, maxValue) }
	r.ID, r.Namespace, r.Service, r.Cluster = v(r.ID), v(r.Namespace), v(r.Service), v(r.Cluster)
	r.Event = record.Event(v(string(r.Event)))
	r.From, r.To = viewVersion(r.From, maxImages, v), viewVersion(r.To, maxImages, v)
	r.Reason = v(r.Reason)
	r.Message = line(r.Message, maxMessage)
	if r.Window != nil {
		w := *r.Window
		r.Window = &w
	}
	if r.Alert != nil {
		a := *r.Alert
		a.Name, a.Fingerprint, a.Summary, a.GeneratorURL = v(a.Name), v(a.Fingerprint), v(a.Summary), v(a.GeneratorURL)
		r.Alert = &a
	}
	r.Release.Commit, r.Release.Pipeline, r.Release.URL, r.Release.By = v(r.Release.Commit), v(r.Release.Pipeline), v(r.Release.URL), v(r.Release.By)
	return r
}

func viewVersion(x record.Version, limit int, v func(string) string) record.Version {
	x.Subset, x.Version = v(x.Subset), v(x.Version)
	n := len(x.Images)
	images := make([]string, 0, min(n, limit+1))
	for i, img := range x.Images {
		if i == limit {
			images = append(images, "+"+strconv.Itoa(n-limit)+" more")
			break
		}
		images = append(images, v(img))
	}
	x.Images = images
	return x
}

// machineView is r with every string valid UTF-8 and at most maxMachineValue bytes: the
// record as data for programs, bounded.
func machineView(r record.Record) record.Record {
	v := func(s string) string {
		return cut(strings.ToValidUTF8(cut(s, 4*maxMachineValue), "\uFFFD"), maxMachineValue)
	}
	r.ID, r.Namespace, r.Service, r.Cluster = v(r.ID), v(r.Namespace), v(r.Service), v(r.Cluster)
	r.Event = record.Event(v(string(r.Event)))
	r.From, r.To = viewVersion(r.From, maxMachineImages, v), viewVersion(r.To, maxMachineImages, v)
	r.Reason, r.Message = v(r.Reason), v(r.Message)
	if r.Alert != nil {
		a := *r.Alert
		a.Name, a.Fingerprint, a.Summary, a.GeneratorURL = v(a.Name), v(a.Fingerprint), v(a.Summary), v(a.GeneratorURL)
		r.Alert = &a
	}
	r.Release.Commit, r.Release.Pipeline, r.Release.URL, r.Release.By = v(r.Release.Commit), v(r.Release.Pipeline), v(r.Release.URL), v(r.Release.By)
	return r
}
