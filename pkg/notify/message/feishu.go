package message

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/record"
)

// Feishu (Lark) custom bots, as documented in 自定义机器人使用指南 / Custom bot usage guide
// (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): with signature
// verification on, the JSON body carries "timestamp" (seconds, as a string, within an
// hour of Feishu's clock) and "sign", where "把 timestamp + "\n" + 密钥 当做签名字符串，使用
// HmacSHA256 算法计算签名，再进行 Base64 编码" — timestamp + "\n" + secret is the
// HMAC-SHA256 *key* and the signed message is empty (the guide's sample code signs
// b""). The bot takes "100 次/分钟，5 次/秒" (100 a minute, 5 a second) per bot, answers
// code 11232 when throttled, and "请求体的数据大小不能超过 20 KB" (a body of at most 20 KB).
// It answers {"code":0,"msg":"success"} (older bots {"StatusCode":0}); 19021 is a bad
// signature or timestamp.
const feishuMax = 20 << 10

type feishuFormat struct{}

// every is 600 ms: 100 a minute, and well under 5 a second.
func (feishuFormat) every() time.Duration { return 600 * time.Millisecond }

// feishuDialect is plain text: the card shows its body as plain_text, which has no
// markup, links or mentions; values only get their group mentions and "<" (the start of
// <at id=all>, were a field ever read as lark_md) neutralised.
var feishuDialect = dialect{
	name:   "feishu",
	escape: feishuEscaper.Replace,
	bold:   func(s string) string { return s },
	link:   func(u *url.URL, label string) string { return label + " (" + feishuEscaper.Replace(u.String()) + ")" },
}

var feishuEscaper = strings.NewReplacer("<", "＜", ">", "＞")

// FeishuSign is Feishu's signature of a request at timestamp (seconds).
func FeishuSign(secret string, timestampSeconds int64) string {
	mac := hmac.New(sha256.New, []byte(strconv.FormatInt(timestampSeconds, 10)+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

type feishuText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

type feishuElement struct {
	Tag      string        `json:"tag"`
	Text     *feishuText   `json:"text,omitempty"`
	Elements []*feishuText `json:"elements,omitempty"`
}

type feishuCard struct {
	Config struct {
		WideScreenMode bool `json:"wide_screen_mode"`
	} `json:"config"`
	Header struct {
		Title    feishuText `json:"title"`
		Template string     `json:"template"`
	} `json:"header"`
	Elements []feishuElement `json:"elements"`
}

type feishuMessage struct {
	Timestamp string     `json:"timestamp,omitempty"`
	Sign      string     `json:"sign,omitempty"`
	MsgType   string     `json:"msg_type"`
	Card      feishuCard `json:"card"`
}

// feishuColor is the card header's colour by outcome.
func feishuColor(e record.Event) string {
	switch e {
	case record.Promoted:
		return "green"
	case record.RolledBack:
		return "red"
	case record.Invalid, record.Paused, record.AwaitingApproval:
		return "orange"
	}
	return "blue"
}

func (feishuFormat) request(ctx context.Context, t Target, r record.Record, now time.Time) (*http.Request, error) {
	body, err := feishuBody(t, r, now)
	if err != nil {
		return nil, err
	}
	return post(ctx, t.URL, body, "application/json")
}

// feishuBody is the signed interactive card, within Feishu's 20 KB.
func feishuBody(t Target, r record.Record, now time.Time) ([]byte, error) {
	v := chatView(r)
	m := feishuMessage{MsgType: "interactive"}
	if t.Secret != "" {
		ts := now.Unix()
		m.Timestamp, m.Sign = strconv.FormatInt(ts, 10), FeishuSign(t.Secret, ts)
	}
	m.Card.Config.WideScreenMode = true
	m.Card.Header.Title = feishuText{Tag: "plain_text", Content: cutRunes(orText(plainTitle(v), "sluice"), 200)}
	m.Card.Header.Template = feishuColor(r.Event)
	foot := &feishuText{Tag: "plain_text", Content: feishuDialect.escape(breakMentions(footer(v)))}
	text := orText(render(t.Template, feishuDialect, r), "sluice")
	return fit(text, feishuMax, func(text string) ([]byte, error) {
		m.Card.Elements = []feishuElement{
			{Tag: "div", Text: &feishuText{Tag: "plain_text", Content: text}},
			{Tag: "note", Elements: []*feishuText{foot}},
		}
		return encode(m)
	})
}

type feishuAnswer struct {
	Code       *int   `json:"code"`
	Msg        string `json:"msg"`
	StatusCode *int   `json:"StatusCode"`
	StatusMsg  string `json:"StatusMessage"`
}

func (feishuFormat) answer(_ int, body []byte) error {
	var a feishuAnswer
	if err := json.Unmarshal(body, &a); err != nil || (a.Code == nil && a.StatusCode == nil) {
		return &Refused{Sink: v1alpha1.SinkFeishu, Code: -1, Msg: "answer without a code: " + string(body)}
	}
	code, msg := 0, a.Msg
	if a.Code != nil {
		code = *a.Code
	}
	if code == 0 && a.StatusCode != nil {
		code, msg = *a.StatusCode, a.StatusMsg
	}
	if code == 0 {
		return nil
	}
	// 11232: the bot's rate limit ("frequency limited").
	return &Refused{Sink: v1alpha1.SinkFeishu, Code: code, Msg: msg, Retry: code == 11232}
}
