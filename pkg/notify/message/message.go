// Package message turns a rollout record into the HTTP request each notification sink
// type expects (Slack, WeCom, Feishu, DingTalk, CloudEvents, plain webhook) and reads the
// sink's answer.
package message

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/record"
)

// Target is how one sink is reached: its type, its URL and the credentials from its
// Secret, and its optional template for the human text.
type Target struct {
	Type v1alpha1.SinkType
	// URL is the webhook address as the sink's owner gave it; it often carries a
	// credential (a robot key, an access token, Slack's path), so it is never logged.
	URL string
	// Secret signs Feishu and DingTalk requests when set.
	Secret string
	// Token is sent as "Authorization: Bearer" to webhook and CloudEvents sinks when set.
	Token string
	// Template overrides DefaultTemplate for the chat formats.
	Template string
}

// format is one sink type's wire format.
type format interface {
	// request builds the HTTP request delivering r; now is the signing time.
	request(ctx context.Context, t Target, r record.Record, now time.Time) (*http.Request, error)
	// answer reads the body of an HTTP answer; nil when the sink took the message.
	answer(status int, body []byte) error
	// every is the shortest interval between two messages to one endpoint that the
	// service allows.
	every() time.Duration
}

var formats = map[v1alpha1.SinkType]format{
	v1alpha1.SinkSlack:       slackFormat{},
	v1alpha1.SinkWeCom:       wecomFormat{},
	v1alpha1.SinkFeishu:      feishuFormat{},
	v1alpha1.SinkDingTalk:    dingtalkFormat{},
	v1alpha1.SinkCloudEvents: cloudEventsFormat{},
	v1alpha1.SinkWebhook:     webhookFormat{},
}

func formatOf(t v1alpha1.SinkType) (format, error) {
	f, ok := formats[t]
	if !ok {
		return nil, fmt.Errorf("unknown notification sink type %q", t)
	}
	return f, nil
}

// Request builds the HTTP request that delivers r to t, signed (when t has a secret) at
// now. It is built anew for every attempt, so each retry carries a fresh signature.
func Request(ctx context.Context, t Target, r record.Record, now time.Time) (*http.Request, error) {
	f, err := formatOf(t.Type)
	if err != nil {
		return nil, err
	}
	return f.request(ctx, t, r, now)
}

// Answer reads a sink's HTTP answer (status and the start of its body). It returns nil
// when the sink took the message and a *Refused when the body says it did not; it says
// nothing about the status itself, which the caller classifies.
func Answer(t v1alpha1.SinkType, status int, body []byte) error {
	f, err := formatOf(t)
	if err != nil {
		return err
	}
	return f.answer(status, body)
}

// Every is the shortest interval between two messages to one endpoint of type t that the
// service allows (Slack: 1 s; WeCom and DingTalk: 3 s, i.e. 20 a minute; Feishu: 600 ms).
func Every(t v1alpha1.SinkType) time.Duration {
	f, err := formatOf(t)
	if err != nil {
		return time.Second
	}
	return f.every()
}

// Refused is a sink's answer that it did not take the message, from its body.
type Refused struct {
	Sink v1alpha1.SinkType
	Code int
	Msg  string
	// Retry is true when the code means "later" (a rate limit), not "never".
	Retry bool
}

func (e *Refused) Error() string {
	return fmt.Sprintf("%s refused the message: code %d: %s", e.Sink, e.Code, cut(oneLine(e.Msg), maxValue))
}

// postJSON is a POST of v as JSON to u.
func postJSON(ctx context.Context, u string, v any, contentType string) (*http.Request, error) {
	body, err := encode(v)
	if err != nil {
		return nil, err
	}
	return post(ctx, u, body, contentType)
}

func post(ctx context.Context, u string, body []byte, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the notification request: %w", redactURLError(err))
	}
	req.Header.Set("Content-Type", contentType)
	return req, nil
}

// encode is JSON without HTML escaping ("<" stays "<": the formats escape for themselves).
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding the notification: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// fit builds a payload from text and, when the payload is over limit bytes, cuts text by
// the excess and builds again: JSON escaping makes the payload's size depend on the text
// in ways a single cut cannot predict.
func fit(text string, limit int, build func(text string) ([]byte, error)) ([]byte, error) {
	for range 8 {
		b, err := build(text)
		if err != nil {
			return nil, err
		}
		over := len(b) - limit
		if over <= 0 {
			return b, nil
		}
		text = cut(text, max(len(text)-over-len(ellipsis), 0))
	}
	return nil, fmt.Errorf("the message does not fit in %d bytes", limit)
}

// errcodeAnswer is the {"errcode": 0, "errmsg": "ok"} answer of the WeCom and DingTalk
// robots.
type errcodeAnswer struct {
	ErrCode *int   `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

func readErrcode(sink v1alpha1.SinkType, body []byte, retry func(code int) bool) error {
	var a errcodeAnswer
	if err := json.Unmarshal(body, &a); err != nil || a.ErrCode == nil {
		return &Refused{Sink: sink, Code: -1, Msg: "answer without an errcode: " + string(body)}
	}
	if *a.ErrCode == 0 {
		return nil
	}
	return &Refused{Sink: sink, Code: *a.ErrCode, Msg: a.ErrMsg, Retry: retry(*a.ErrCode)}
}
