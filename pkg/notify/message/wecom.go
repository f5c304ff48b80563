package message

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/record"
)

// WeCom (企业微信) group robots, as documented in 群机器人配置说明
// (https://developer.work.weixin.qq.com/document/path/91770): a markdown message's
// content is "最长不超过4096个字节，必须是utf8编码" (at most 4096 bytes, UTF-8; the robot
// answers errcode 40058 "markdown.content exceed max length 4096" beyond), and "每个机器人
// 发送的消息不能超过20条/分钟" (at most 20 messages a minute per robot). Its markdown has
// headings, bold, links, inline code, quotes, <font color="info|comment|warning"> and
// <@userid> mentions; there is no escape character, so values get look-alike full-width
// characters for the ones that would start markup.
const wecomMax = 4096

type wecomFormat struct{}

// every is 3 s: 20 messages in any minute, never a burst the robot would refuse.
func (wecomFormat) every() time.Duration { return 3 * time.Second }

// markdownEscaper replaces the characters that start links, images, tags, mentions, code,
// headings, quotes and bold in the robots' markdown with full-width look-alikes. ("_" and
// "~" stay: identifiers are full of them, and emphasis links and notifies nobody.)
var markdownEscaper = strings.NewReplacer(
	"[", "［", "]", "］", "<", "＜", ">", "＞", "*", "＊", "`", "｀", "#", "＃",
)

var wecomDialect = dialect{
	name:   "wecom",
	escape: markdownEscaper.Replace,
	bold:   func(s string) string { return "**" + s + "**" },
	link:   markdownLink,
}

// markdownLink is [label](url), with the URL's parentheses and spaces percent-encoded so
// it cannot end the link early.
func markdownLink(u *url.URL, label string) string {
	return "[" + label + "](" + linkTarget.Replace(u.String()) + ")"
}

var linkTarget = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E", "[", "%5B", "]", "%5D")

// wecomColor is the <font> colour of the headline by outcome.
func wecomColor(e record.Event) string {
	switch e {
	case record.Promoted:
		return "info"
	case record.RolledBack, record.Invalid:
		return "warning"
	}
	return "comment"
}

type wecomMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

func (wecomFormat) request(ctx context.Context, t Target, r record.Record, _ time.Time) (*http.Request, error) {
	return postJSON(ctx, t.URL, wecomPayload(t, r), "application/json")
}

func wecomPayload(t Target, r record.Record) wecomMessage {
	v := chatView(r)
	head := `### <font color="` + wecomColor(r.Event) + `">` + markdownEscaper.Replace(breakMentions(title(v))) + "</font>\n"
	foot := "\n<font color=\"comment\">" + markdownEscaper.Replace(breakMentions(footer(v))) + "</font>"
	body := render(t.Template, wecomDialect, r)
	budget := max(wecomMax-len(head)-len(foot), 0)
	m := wecomMessage{MsgType: "markdown"}
	m.Markdown.Content = head + cut(body, budget) + foot
	if len(m.Markdown.Content) > wecomMax { // a headline longer than the whole budget
		m.Markdown.Content = cut(m.Markdown.Content, wecomMax)
	}
	return m
}

func (wecomFormat) answer(_ int, body []byte) error {
	return readErrcode(v1alpha1.SinkWeCom, body, func(code int) bool {
		// 45009: "api freq out of limit", the robot's rate limit.
		return code == 45009
	})
}
