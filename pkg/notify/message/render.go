package message

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"
	"time"

	"github.com/sluicedev/sluice/pkg/record"
)

// dialect is how one chat format writes text: how a value is escaped so it stays text,
// and how bold text and links are written.
type dialect struct {
	name string
	// escape makes a one-line value inert text in the format.
	escape func(string) string
	// bold and link receive text already escaped; link's url is an absolute http(s) URL.
	bold func(string) string
	link func(u *url.URL, label string) string
}

// safe is text a template function has already written in the dialect; the escaper lets
// it through unchanged.
type safe string

// escaperName is the function appended to every printing action of a template, so that
// each value a template prints is escaped for the format (the way html/template escapes
// values while trusting the template's own text).
const escaperName = "_sluice_escape"

// maxRendered bounds a template's output before a format cuts it to its own limit; a
// template that writes more (a loop, a recursion) stops with an error.
const maxRendered = 64 << 10

// DefaultTemplate is the human text of every chat message unless a sink overrides it:
// what was released, by whom, the weights, the reason, the window's numbers, the alert
// and the times. It uses the functions every template may use:
//
//	b TEXT           TEXT in bold
//	link URL LABEL   a link (LABEL alone when URL is not an absolute http(s) URL)
//	pct FLOAT        0.0123 → "1.23%"
//	ms FLOAT         milliseconds, "n/a" when 0 (unknown)
//	join LIST SEP    strings.Join
//	time TIME        a time.Time or *time.Time in UTC, RFC 3339; "" when unset
//	dur FROM TO      TO − FROM, e.g. "412ms"; "" when either is unset
//	short TEXT       the first 12 characters (a commit)
//
// Every value a template prints is escaped for the sink's format; the template's own
// text is not.
const DefaultTemplate = `{{.Message}}
{{b "Release:"}} {{.From.Subset}}{{with .From.Version}} {{.}}{{end}} → {{.To.Subset}}{{with .To.Version}} {{.}}{{end}}
{{- if or .From.Images .To.Images}}
{{b "Images:"}} {{join .From.Images ", "}} → {{join .To.Images ", "}}
{{- end}}
{{- with .Release}}{{if or .Commit .Pipeline .URL .By}}
{{b "Released by:"}}{{with .Commit}} commit {{short .}}{{end}}{{if or .Pipeline .URL}} {{link .URL (or .Pipeline "pipeline")}}{{end}}{{with .By}} by {{.}}{{end}}
{{- end}}{{end}}
{{b "Weight:"}} {{.Weight.Before}}% → {{.Weight.After}}%{{if .Step.Of}}, step {{.Step.Index}}/{{.Step.Of}}{{end}}
{{b "Reason:"}} {{.Reason}}
{{- with .Window}}
{{b "Canary:"}} {{.Canary.Requests}} requests, {{.Canary.Errors}} errors ({{pct .Canary.ErrorRate}}), p50 {{ms .Canary.P50Ms}}, p99 {{ms .Canary.P99Ms}}
{{b "Stable:"}} {{.Stable.Requests}} requests, {{.Stable.Errors}} errors ({{pct .Stable.ErrorRate}}), p50 {{ms .Stable.P50Ms}}, p99 {{ms .Stable.P99Ms}} (window {{.Seconds}} s)
{{- end}}
{{- with .Alert}}
{{b "Alert:"}} {{.Name}}{{with .Summary}}: {{.}}{{end}}, firing since {{time .StartsAt}}{{with .GeneratorURL}} {{link . "source"}}{{end}}
{{- end}}
{{b "Times:"}}{{with .Times.FaultAt}} fault {{time .}},{{end}} decided {{time .Times.DecidedAt}}{{with .Times.WrittenAt}}, written {{time .}}{{end}}{{with .Times.ConfirmedAt}}, confirmed {{time .}}{{end}}
{{- if .Times.FaultAt}} (fault → decision {{dur .Times.FaultAt .Times.DecidedAt}}){{end}}`

// CheckTemplate reports whether src parses as a notification template, so a policy's
// template can be refused before any message needs it.
func CheckTemplate(src string) error {
	_, err := parseTemplate(src, plainDialect)
	return err
}

// plainDialect writes plain text; it checks templates and renders nothing it sends.
var plainDialect = dialect{
	name:   "plain",
	escape: func(s string) string { return s },
	bold:   func(s string) string { return s },
	link:   func(u *url.URL, label string) string { return label + " " + u.String() },
}

func parseTemplate(src string, d dialect) (*template.Template, error) {
	t, err := template.New("message").Funcs(funcs(d)).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("parsing the notification template: %w", err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			escapeActions(tt.Tree.Root)
		}
	}
	return t, nil
}

// escapeActions appends the escaper to every action that prints, in n and below.
// Declarations ({{$x := …}}) print nothing and stay raw, so a value is escaped once.
func escapeActions(n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			escapeActions(c)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) == 0 {
			id := parse.NewIdentifier(escaperName).SetPos(n.Pos)
			n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id}})
		}
	case *parse.IfNode:
		escapeActions(n.List)
		escapeActions(n.ElseList)
	case *parse.RangeNode:
		escapeActions(n.List)
		escapeActions(n.ElseList)
	case *parse.WithNode:
		escapeActions(n.List)
		escapeActions(n.ElseList)
	}
}

func funcs(d dialect) template.FuncMap {
	text := func(v any) string { return d.escape(breakMentions(oneLine(str(v)))) }
	return template.FuncMap{
		escaperName: func(v any) string {
			if s, ok := v.(safe); ok {
				return string(s)
			}
			return text(v)
		},
		"b": func(v any) safe {
			s := text(v)
			if strings.TrimSpace(s) == "" {
				return safe(s)
			}
			return safe(d.bold(s))
		},
		"link": func(u, label any) safe {
			l := text(label)
			parsed, ok := webURL(str(u))
			if !ok {
				return safe(l)
			}
			if l == "" {
				l = text(parsed.String())
			}
			return safe(d.link(parsed, l))
		},
		"pct":   func(f float64) string { return fmt.Sprintf("%.2f%%", f*100) },
		"ms":    ms,
		"join":  strings.Join,
		"time":  timeText,
		"dur":   dur,
		"short": short,
	}
}

func str(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case safe:
		return string(v)
	case *time.Time:
		return timeText(v)
	case time.Time:
		return timeText(v)
	}
	return fmt.Sprint(v)
}

// short is the first 12 characters of s, the usual abbreviation of a commit.
func short(s string) string {
	n := 0
	for i := range s {
		if n == 12 {
			return s[:i]
		}
		n++
	}
	return s
}

func ms(f float64) string {
	if f == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f ms", f)
}

func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, !t.IsZero()
	}
	return time.Time{}, false
}

func timeText(v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func dur(from, to any) string {
	a, ok1 := timeOf(from)
	b, ok2 := timeOf(to)
	if !ok1 || !ok2 {
		return ""
	}
	return b.Sub(a).Round(time.Millisecond).String()
}

// webURL parses s as an absolute http or https URL with a host, the only links a message
// makes; anything else (javascript:, relative paths, garbage) stays text.
func webURL(s string) (*url.URL, bool) {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return nil, false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || !hostName.MatchString(u.Hostname()) && net.ParseIP(u.Hostname()) == nil {
		return nil, false
	}
	if p := u.Port(); p != "" && !digits.MatchString(p) {
		return nil, false
	}
	return u, true
}

var (
	hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)
	digits   = regexp.MustCompile(`^[0-9]{1,5}$`)
)

// limitWriter fails once more than n bytes were written.
type limitWriter struct {
	b strings.Builder
	n int
}

var errTooLong = errors.New("the template wrote more than 64 KiB")

func (w *limitWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.n {
		return 0, errTooLong
	}
	return w.b.Write(p)
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// render is the human text of r in dialect d: the sink's template, or the default one
// when the sink has none. A template that fails falls back to the default text, with a
// line saying why, so a broken template never loses a rollback.
func render(src string, d dialect, r record.Record) string {
	if src == "" {
		src = DefaultTemplate
	}
	v := chatView(r)
	out, err := execute(src, d, v)
	if err != nil {
		def, derr := execute(DefaultTemplate, d, v)
		if derr != nil { // the default template is tested; this is a programming error
			def = d.escape(breakMentions(oneLine(v.Message)))
		}
		out = def + "\n" + d.escape(breakMentions(cut(oneLine("(the sink's template failed: "+err.Error()+")"), maxValue)))
	}
	out = strings.TrimSpace(blankLines.ReplaceAllString(out, "\n\n"))
	return out
}

// parsed caches parsed templates by dialect and source: a template parses once, not for
// every message (parsing is most of a message's cost). Policies hold few templates; the
// cache is emptied when it holds more than maxParsed.
var parsed = struct {
	sync.Mutex
	m map[[2]string]*template.Template
}{m: map[[2]string]*template.Template{}}

const maxParsed = 64

func parseCached(src string, d dialect) (*template.Template, error) {
	k := [2]string{d.name, src}
	parsed.Lock()
	t, ok := parsed.m[k]
	parsed.Unlock()
	if ok {
		return t, nil
	}
	t, err := parseTemplate(src, d)
	if err != nil {
		return nil, err
	}
	parsed.Lock()
	if len(parsed.m) >= maxParsed {
		clear(parsed.m)
	}
	parsed.m[k] = t
	parsed.Unlock()
	return t, nil
}

func execute(src string, d dialect, v record.Record) (string, error) {
	t, err := parseCached(src, d)
	if err != nil {
		return "", err
	}
	w := &limitWriter{n: maxRendered}
	if err := t.Execute(w, v); err != nil {
		return "", fmt.Errorf("running the notification template: %w", err)
	}
	return strings.ToValidUTF8(w.b.String(), "\uFFFD"), nil
}
