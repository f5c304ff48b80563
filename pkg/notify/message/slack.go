package message

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/sluicedev/sluice/pkg/record"
)

// Slack's limits (https://api.slack.com/reference/block-kit/blocks and
// https://api.slack.com/reference/block-kit/composition-objects#text, the limits
// slack-go's TextBlockObject.Validate enforces): a header's plain_text at most 150
// characters, a section's text at most 3000, a context's element text at most 3000.
// Incoming webhooks take one message per second per webhook, short bursts aside, and
// answer 429 with Retry-After beyond (https://api.slack.com/docs/rate-limits).
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackTextMax    = 3000
)

type slackFormat struct{}

func (slackFormat) every() time.Duration { return time.Second }

// slackDialect is Slack's mrkdwn: "&", "<" and ">" become entities, the escaping Slack
// asks for (https://api.slack.com/reference/surfaces/formatting#escaping); with "<" gone
// no value can make a link or a mention (<!channel>, <@U…>, <#C…>, <http…|…>).
var slackDialect = dialect{
	name:   "slack",
	escape: slackEscape,
	bold:   func(s string) string { return "*" + s + "*" },
	link: func(u *url.URL, label string) string {
		return "<" + slackEscape(strings.ReplaceAll(u.String(), "|", "%7C")) + "|" + strings.ReplaceAll(label, "|", "¦") + ">"
	},
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func slackEscape(s string) string { return slackEscaper.Replace(s) }

// slackColor is the attachment's colour bar by outcome.
func slackColor(e record.Event) string {
	switch e {
	case record.Promoted:
		return "good"
	case record.RolledBack:
		return "danger"
	case record.Invalid, record.Paused, record.AwaitingApproval:
		return "warning"
	}
	return "#439FE0"
}

func (slackFormat) request(ctx context.Context, t Target, r record.Record, _ time.Time) (*http.Request, error) {
	return postJSON(ctx, t.URL, slackMessage(t, r), "application/json")
}

// slackMessage is an incoming-webhook message: a text fallback for notifications and
// clients without blocks, and one attachment coloured by outcome holding the blocks: a
// header, the human text, and a context line.
func slackMessage(t Target, r record.Record) *slack.WebhookMessage {
	v := chatView(r)
	head := cutRunes(orText(plainTitle(v), "sluice"), slackHeaderMax)
	fallback := cutRunes(slackEscape(breakMentions(title(v)+": "+v.Reason)), slackTextMax)
	body := cutRunes(orText(render(t.Template, slackDialect, r), fallback), slackSectionMax)
	foot := cutRunes(slackEscape(breakMentions(footer(v))), slackTextMax)
	no := false
	return &slack.WebhookMessage{
		Text:        fallback,
		UnfurlLinks: &no,
		UnfurlMedia: &no,
		Attachments: []slack.Attachment{{
			Color:    slackColor(r.Event),
			Fallback: fallback,
			Blocks: slack.Blocks{BlockSet: []slack.Block{
				slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, head, false, false)),
				slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, body, false, false), nil, nil),
				slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, foot, false, false)),
			}},
		}},
	}
}

func (slackFormat) answer(int, []byte) error { return nil }
