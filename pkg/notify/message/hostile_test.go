package message_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify/message"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

// hostile are values CI could write into the sluice.dev/release-* annotations (or that
// could reach a record's text any other way).
var hostile = map[string]string{
	"slack channel mention":  "<!channel> deploy",
	"slack user mention":     "<@U024BE7LH> <#C024BE7LR>",
	"slack link":             "<https://evil.example|click here>",
	"everyone mentions":      "@all @here @channel @everyone @ALL @所有人",
	"markdown link":          "[urgent](https://evil.example) ![img](https://evil.example/x.png)",
	"wecom mention and font": `<@zhangsan> <font color="warning">fake</font>`,
	"feishu at all":          `<at id=all></at><at user_id="all">所有人</at>`,
	"new lines":              "x\n# heading\n> quote\n- item\r\n\u2028```code",
	"bidi override":          "abc\u202edcba\u2066x",
	"invalid utf-8":          "\xff\xfe\xfd broken \xc3",
	"json breakers":          `","text":"injected","x":"` + "\x00\\",
	"html":                   "<script>alert(1)</script>&amp;",
	"1 MB":                   strings.Repeat("A", 1<<20),
	"1 MB of markup":         strings.Repeat("<!channel>[a](b)@all", 1<<16),
	"1 MB of multi-byte":     strings.Repeat("界", 1<<19),
}

// withHostile is a rollback whose every free-text string is v (its URLs stay valid, so
// the messages hold exactly two links).
func withHostile(v string) record.Record {
	r := rollback()
	r.Message, r.Reason = v, v
	r.Release.Commit, r.Release.Pipeline, r.Release.By = v, v, v
	r.From.Version, r.To.Version = v, v
	r.From.Images = []string{v, v}
	r.To.Images = append(r.To.Images, v)
	r.Alert.Name, r.Alert.Summary = v, v
	return r
}

var (
	slackLink = regexp.MustCompile(`<(https?://[^<>|\s]+)\|[^<>|]*>`)
	mdLink    = regexp.MustCompile(`\]\(([^)\s]*)\)`)
	wecomFont = regexp.MustCompile(`<font color="(info|warning|comment)">|</font>`)
	everyone  = regexp.MustCompile(`(?i)@(all|here|channel|everyone|所有人)`)
)

// ourLinks are the URLs of the records above; every link in a message goes to one.
var ourLinks = []string{"https://ci.example.com/", "https://prometheus.example.com/", "https://evil.example/"}

func checkLinks(found [][]string, minLinks, maxLinks int, allowed []string) error {
	if n := len(found); n < minLinks || n > maxLinks {
		return fmt.Errorf("%d links, want %d to %d", n, minLinks, maxLinks)
	}
	for _, l := range found {
		ok := false
		for _, p := range allowed {
			ok = ok || strings.HasPrefix(l[1], p)
		}
		if !ok {
			return fmt.Errorf("a link to %q, which is no URL of the record", l[1])
		}
	}
	return nil
}

// checkInert fails when a value escaped its field in m: links other than the record's
// (between minLinks and maxLinks of them), a mention, markup a value brought. Size, JSON
// and format validity are notifytest.Check's.
func checkInert(typ v1alpha1.SinkType, m notifytest.Message, minLinks, maxLinks int) error {
	return checkInertTo(typ, m, minLinks, maxLinks, ourLinks)
}

// checkInertTo is checkInert with links allowed to the URLs starting with allowed.
func checkInertTo(typ v1alpha1.SinkType, m notifytest.Message, minLinks, maxLinks int, allowed []string) error {
	text := m.Text + "\n" + m.Fallback
	if everyone.MatchString(text) {
		return fmt.Errorf("a group mention survived: %q", everyone.FindString(text))
	}
	if !utf8.ValidString(text) {
		return fmt.Errorf("invalid UTF-8 in the text")
	}
	switch typ {
	case v1alpha1.SinkSlack:
		if err := checkLinks(slackLink.FindAllStringSubmatch(m.Text, -1), minLinks, maxLinks, allowed); err != nil {
			return err
		}
		if rest := slackLink.ReplaceAllString(text, ""); strings.Contains(rest, "<") {
			return fmt.Errorf("a '<' outside sluice's links: %q", around(rest, "<"))
		}
	case v1alpha1.SinkWeCom, v1alpha1.SinkDingTalk:
		if n := strings.Count(m.Text, "]("); n > maxLinks {
			return fmt.Errorf("%d links, want at most %d", n, maxLinks)
		}
		if err := checkLinks(mdLink.FindAllStringSubmatch(m.Text, -1), minLinks, maxLinks, allowed); err != nil {
			return err
		}
		if rest := wecomFont.ReplaceAllString(text, ""); strings.Contains(rest, "<") {
			return fmt.Errorf("a '<' outside sluice's tags: %q", around(rest, "<"))
		}
		for _, line := range strings.Split(m.Text, "\n") {
			if strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "### ") {
				return fmt.Errorf("a heading sluice did not write: %q", line)
			}
		}
	case v1alpha1.SinkFeishu:
		if strings.Contains(text, "<") {
			return fmt.Errorf("a '<' in a Feishu card: %q", around(text, "<"))
		}
	}
	return nil
}

func around(s, sub string) string {
	i := strings.Index(s, sub)
	return s[max(i-40, 0):min(i+40, len(s))]
}

func TestHostileValuesStayText(t *testing.T) {
	for name, v := range hostile {
		for _, typ := range chatTypes {
			t.Run(name+"/"+string(typ), func(t *testing.T) {
				m := build(t, typ, "", withHostile(v))
				// A message cut to its format's limit may lose a link, never gain one.
				if err := checkInert(typ, m, 0, 2); err != nil {
					t.Error(err)
				}
			})
		}
		for _, typ := range []v1alpha1.SinkType{v1alpha1.SinkCloudEvents, v1alpha1.SinkWebhook} {
			t.Run(name+"/"+string(typ), func(t *testing.T) {
				m := build(t, typ, "", withHostile(v))
				if m.Record == nil || m.Record.ID != rollback().ID {
					t.Fatalf("record %+v", m.Record)
				}
				for _, s := range []string{m.Record.Message, m.Record.Release.Commit, m.Record.Alert.Summary} {
					if len(s) > 4096 || !utf8.ValidString(s) {
						t.Errorf("a value of %d bytes (valid UTF-8: %v) in the data", len(s), utf8.ValidString(s))
					}
				}
			})
		}
	}
}

func TestHostileURLsMakeNoLinks(t *testing.T) {
	links := map[string]int{ // URL → links it makes (it is both the release and alert URL)
		"javascript:alert(1)":                0,
		"ftp://x.example/a":                  0,
		"//evil.example/x":                   0,
		"https://user:pass@evil.example/":    0,
		"https://evil.example/a b":           0,
		"<!channel>":                         0,
		"":                                   0,
		"http://":                            0,
		"https://evil.example/)|<!channel>":  2, // a web URL: linked, with its markup percent-encoded
		"https://evil.example/a](https://x)": 2,
	}
	for u, want := range links {
		for _, typ := range chatTypes {
			t.Run(fmt.Sprintf("%q/%s", u, typ), func(t *testing.T) {
				r := rollback()
				r.Release.URL, r.Alert.GeneratorURL = u, u
				m := build(t, typ, "", r)
				n := want
				if typ == v1alpha1.SinkFeishu {
					n = 0 // plain text: no links at all
				}
				if err := checkInert(typ, m, n, n); err != nil {
					t.Error(err)
				}
			})
		}
	}
}

func TestTemplates(t *testing.T) {
	tests := map[string]struct {
		tmpl    string
		r       record.Record
		want    []string
		notWant []string
	}{
		"override with values escaped": {
			tmpl: `{{b "Deploy"}} {{.Release.Pipeline}} of {{.To.Subset}} {{link .Release.URL "run"}}: {{pct .Window.Canary.ErrorRate}}`,
			r: func() record.Record {
				r := rollback()
				r.Release.Pipeline = "<!channel> @all"
				return r
			}(),
			want:    []string{"*Deploy* &lt;!channel&gt; @\u200ball of v2 <https://ci.example.com/runs/42|run>: 9.80%"},
			notWant: []string{"<!channel>"},
		},
		"the template's own text is trusted": {
			tmpl: `<!here> {{.Service}} needs you`,
			r:    rollback(),
			want: []string{"<!here> reviews needs you"},
		},
		"a parse error falls back to the default text and says why": {
			tmpl: `{{.Nope`,
			r:    rollback(),
			want: []string{"510 requests", "the sink&#39;s template failed", "parsing the notification template"},
		},
		"a runtime error (no window) falls back": {
			tmpl: `{{.Window.Canary.Requests}}`,
			r:    promotion(),
			want: []string{"Promoted", "template failed", "nil pointer"},
		},
		"endless output is cut off": {
			tmpl: `{{define "a"}}{{.Service}}{{template "a" .}}{{end}}{{template "a" .}}`,
			r:    rollback(),
			want: []string{"510 requests", "template failed"},
		},
		"declarations are not escaped twice": {
			tmpl: `{{$x := .Release.Pipeline}}{{$x}}`,
			r: func() record.Record {
				r := rollback()
				r.Release.Pipeline = "a&b"
				return r
			}(),
			want: []string{"a&amp;b"},
		},
		"range and with print escaped values": {
			tmpl: `{{range .To.Images}}[{{.}}]{{end}}{{with .Alert}}{{.Summary}}{{end}}`,
			r: func() record.Record {
				r := rollback()
				r.To.Images = []string{"<x>"}
				r.Alert.Summary = "<@U1>"
				return r
			}(),
			want: []string{"[&lt;x&gt;]&lt;@U1&gt;"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := build(t, v1alpha1.SinkSlack, tc.tmpl, tc.r)
			text := strings.ReplaceAll(m.Text, "'", "&#39;")
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("the message lacks %q:\n%s", w, m.Text)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(m.Text, w) {
					t.Errorf("the message has %q:\n%s", w, m.Text)
				}
			}
		})
	}
}

func TestCheckTemplate(t *testing.T) {
	tests := map[string]struct {
		src string
		ok  bool
	}{
		"default":          {src: message.DefaultTemplate, ok: true},
		"empty":            {src: "", ok: true},
		"functions":        {src: `{{b .Service}} {{link .Release.URL "x"}} {{pct 0.1}} {{ms 1.0}} {{join .To.Images ","}} {{time .Times.DecidedAt}} {{dur .Times.FaultAt .Times.DecidedAt}} {{short .Release.Commit}}`, ok: true},
		"unclosed action":  {src: `{{.Service`},
		"unknown function": {src: `{{nope .Service}}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if err := message.CheckTemplate(tc.src); (err == nil) != tc.ok {
				t.Errorf("CheckTemplate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestUnknownTypeAndBadToken(t *testing.T) {
	if _, err := message.Request(context.Background(), message.Target{Type: "pager", URL: "http://127.0.0.1/"}, rollback(), t0); err == nil {
		t.Error("an unknown sink type built a request")
	}
	if _, err := message.Request(context.Background(), message.Target{Type: v1alpha1.SinkWebhook, URL: "http://127.0.0.1/", Token: "a\nb"}, rollback(), t0); err == nil {
		t.Error("a token with a newline built a request")
	}
}
