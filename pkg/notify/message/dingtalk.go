package message

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/record"
)

// DingTalk (钉钉) custom robots, as documented in 自定义机器人安全设置 / 加签
// (https://open.dingtalk.com/document/robots/customize-robot-security-settings):
// timestamp is the current time in milliseconds, within an hour of DingTalk's clock;
// "把timestamp+"\n"+密钥当做签名字符串，使用HmacSHA256算法计算签名，然后进行Base64 encode，
// 最后再把签名参数再进行urlEncode" — the string to sign is timestamp + "\n" + secret, the
// HMAC-SHA256 key is the secret (the "SEC…" string), the signature is Base64 and then
// URL-encoded — and both are appended to the webhook URL as &timestamp=…&sign=…. A robot
// takes at most 20 messages a minute ("每个机器人每分钟最多发送20条", throttled for 10
// minutes beyond, errcode 130101) and answers {"errcode":0,"errmsg":"ok"} (310000 is a
// bad signature, keyword or IP). DingTalk documents no size for a markdown message; its
// text is kept within WeCom's 4096 bytes.
const dingtalkMax = 4096

type dingtalkFormat struct{}

func (dingtalkFormat) every() time.Duration { return 3 * time.Second }

// dingtalkDialect is WeCom's markdown escaping; lines become paragraphs, the line break
// DingTalk's markdown renders everywhere.
var dingtalkDialect = dialect{
	name:   "dingtalk",
	escape: markdownEscaper.Replace,
	bold:   func(s string) string { return "**" + s + "**" },
	link:   markdownLink,
}

type dingtalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		IsAtAll bool `json:"isAtAll"`
	} `json:"at"`
}

// DingTalkSign is DingTalk's signature of a request at timestamp (milliseconds), before
// URL encoding.
func DingTalkSign(secret string, timestampMillis int64) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestampMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (dingtalkFormat) request(ctx context.Context, t Target, r record.Record, now time.Time) (*http.Request, error) {
	u := t.URL
	if t.Secret != "" {
		ts := now.UnixMilli()
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "timestamp=" + strconv.FormatInt(ts, 10) + "&sign=" + url.QueryEscape(DingTalkSign(t.Secret, ts))
	}
	return postJSON(ctx, u, dingtalkPayload(t, r), "application/json")
}

func dingtalkPayload(t Target, r record.Record) dingtalkMessage {
	v := chatView(r)
	head := "### " + markdownEscaper.Replace(breakMentions(title(v))) + "\n\n"
	foot := "\n\n" + markdownEscaper.Replace(breakMentions(footer(v)))
	body := strings.ReplaceAll(render(t.Template, dingtalkDialect, r), "\n", "\n\n")
	body = blankLines.ReplaceAllString(body, "\n\n")
	m := dingtalkMessage{MsgType: "markdown"}
	m.Markdown.Title = cutRunes(orText(plainTitle(v), "sluice"), 100)
	m.Markdown.Text = cut(head+cut(body, max(dingtalkMax-len(head)-len(foot), 0))+foot, dingtalkMax)
	return m
}

func (dingtalkFormat) answer(_ int, body []byte) error {
	return readErrcode(v1alpha1.SinkDingTalk, body, func(code int) bool {
		// 130101: "send too fast, exceed 20 times per minute".
		return code == 130101
	})
}
