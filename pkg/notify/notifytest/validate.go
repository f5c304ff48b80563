package notifytest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/slack-go/slack"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/record"
)

// Message is what one request carried, read the way its sink type reads it.
type Message struct {
	// Text is what people see: the human text fields of a chat message, joined by
	// newlines (for Slack, its blocks' text only; the fallback is in Fallback).
	Text     string
	Fallback string
	// Record is the rollout record, for the webhook and CloudEvents types.
	Record *record.Record
	// CloudEvent attributes, for the CloudEvents type.
	EventType, EventID, EventSubject, EventSource string
	EventTime                                     time.Time
	// Color is Slack's attachment colour, Feishu's header template or WeCom's <font>.
	Color string
}

// Limits of the formats, from their documentation (see package message).
const (
	slackSectionMax = 3000
	slackHeaderMax  = 150
	wecomMax        = 4096
	dingtalkMax     = 4096
	feishuMax       = 20 << 10
	signWindow      = time.Hour
)

// Check reads req as a sink of type typ would and returns what it carried, or why the
// sink would refuse it: a wrong shape, a field over its documented limit, a wrong
// signature (recomputed here from the documented algorithm, with secret at now), a
// missing bearer token. It consumes req's body.
func Check(typ v1alpha1.SinkType, secret, token string, req *http.Request, now time.Time) (Message, error) {
	if req.Method != http.MethodPost {
		return Message{}, fmt.Errorf("method %s, want POST", req.Method)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return Message{}, fmt.Errorf("reading the body: %w", err)
	}
	if typ != v1alpha1.SinkCloudEvents && !json.Valid(body) {
		return Message{}, fmt.Errorf("the body is not JSON: %.200q", body)
	}
	if !utf8.Valid(body) {
		return Message{}, errors.New("the body is not valid UTF-8")
	}
	switch typ {
	case v1alpha1.SinkSlack:
		return checkSlack(body)
	case v1alpha1.SinkWeCom:
		return checkWeCom(body)
	case v1alpha1.SinkFeishu:
		return checkFeishu(body, secret, now)
	case v1alpha1.SinkDingTalk:
		return checkDingTalk(req, body, secret, now)
	case v1alpha1.SinkCloudEvents:
		if err := checkBearer(req, token); err != nil {
			return Message{}, err
		}
		return checkCloudEvent(req, body)
	case v1alpha1.SinkWebhook:
		if err := checkBearer(req, token); err != nil {
			return Message{}, err
		}
		return checkWebhook(req, body)
	}
	return Message{}, fmt.Errorf("unknown sink type %q", typ)
}

func checkBearer(req *http.Request, token string) error {
	got := req.Header.Get("Authorization")
	if token == "" && got != "" {
		return fmt.Errorf("an Authorization header without a token configured")
	}
	if token != "" && got != "Bearer "+token {
		return fmt.Errorf("the Authorization header is %q, want the bearer token", got)
	}
	return nil
}

// strict decodes b into v refusing unknown fields: a field the format does not have is a
// value that broke out of its own.
func strict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// checkSlack decodes the message with slack-go's own types and validates every text
// object of its blocks with slack-go's Validate, and the block limits Slack documents.
func checkSlack(body []byte) (Message, error) {
	var m slack.WebhookMessage
	if err := strict(body, &m); err != nil {
		return Message{}, fmt.Errorf("slack: decoding the webhook message: %w", err)
	}
	if m.Text == "" || utf8.RuneCountInString(m.Text) > slackSectionMax {
		return Message{}, fmt.Errorf("slack: the text fallback has %d characters", utf8.RuneCountInString(m.Text))
	}
	if len(m.Attachments) != 1 {
		return Message{}, fmt.Errorf("slack: %d attachments, want 1", len(m.Attachments))
	}
	a := m.Attachments[0]
	if a.Color == "" {
		return Message{}, errors.New("slack: the attachment has no colour")
	}
	if len(a.Blocks.BlockSet) == 0 || len(a.Blocks.BlockSet) > 50 {
		return Message{}, fmt.Errorf("slack: %d blocks", len(a.Blocks.BlockSet))
	}
	var texts []string
	for i, b := range a.Blocks.BlockSet {
		var objs []*slack.TextBlockObject
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if b.Text == nil || b.Text.Type != slack.PlainTextType || utf8.RuneCountInString(b.Text.Text) > slackHeaderMax {
				return Message{}, fmt.Errorf("slack: block %d: a header must be plain_text of at most %d characters", i, slackHeaderMax)
			}
			objs = []*slack.TextBlockObject{b.Text}
		case *slack.SectionBlock:
			if b.Text == nil {
				return Message{}, fmt.Errorf("slack: block %d: a section without text", i)
			}
			objs = append([]*slack.TextBlockObject{b.Text}, b.Fields...)
		case *slack.ContextBlock:
			if n := len(b.ContextElements.Elements); n == 0 || n > 10 {
				return Message{}, fmt.Errorf("slack: block %d: a context with %d elements", i, n)
			}
			for _, e := range b.ContextElements.Elements {
				t, ok := e.(*slack.TextBlockObject)
				if !ok {
					return Message{}, fmt.Errorf("slack: block %d: a context element of type %T", i, e)
				}
				objs = append(objs, t)
			}
		default:
			return Message{}, fmt.Errorf("slack: block %d: unexpected block type %s", i, b.BlockType())
		}
		for _, o := range objs {
			if err := o.Validate(); err != nil {
				return Message{}, fmt.Errorf("slack: block %d: %w", i, err)
			}
			texts = append(texts, o.Text)
		}
	}
	return Message{Text: strings.Join(texts, "\n"), Fallback: m.Text, Color: a.Color}, nil
}

type wecomMarkdown struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Content string `json:"content"`
	} `json:"markdown"`
}

func checkWeCom(body []byte) (Message, error) {
	var m wecomMarkdown
	if err := strict(body, &m); err != nil {
		return Message{}, fmt.Errorf("wecom: decoding: %w", err)
	}
	if m.MsgType != "markdown" || m.Markdown == nil {
		return Message{}, fmt.Errorf("wecom: msgtype %q, want markdown", m.MsgType)
	}
	c := m.Markdown.Content
	if c == "" || len(c) > wecomMax {
		return Message{}, fmt.Errorf("wecom: markdown.content is %d bytes, want 1..%d", len(c), wecomMax)
	}
	color := ""
	if i := strings.Index(c, `<font color="`); i >= 0 {
		color, _, _ = strings.Cut(c[i+len(`<font color="`):], `"`)
	}
	return Message{Text: c, Color: color}, nil
}

type feishuCard struct {
	Timestamp string `json:"timestamp"`
	Sign      string `json:"sign"`
	MsgType   string `json:"msg_type"`
	Card      *struct {
		Config struct {
			WideScreenMode bool `json:"wide_screen_mode"`
		} `json:"config"`
		Header struct {
			Title    feishuText `json:"title"`
			Template string     `json:"template"`
		} `json:"header"`
		Elements []struct {
			Tag      string        `json:"tag"`
			Text     *feishuText   `json:"text"`
			Elements []*feishuText `json:"elements"`
		} `json:"elements"`
	} `json:"card"`
}

type feishuText struct {
	Tag     string `json:"tag"`
	Content string `json:"content"`
}

func checkFeishu(body []byte, secret string, now time.Time) (Message, error) {
	if len(body) > feishuMax {
		return Message{}, fmt.Errorf("feishu: the body is %d bytes, over %d", len(body), feishuMax)
	}
	var m feishuCard
	if err := strict(body, &m); err != nil {
		return Message{}, fmt.Errorf("feishu: decoding: %w", err)
	}
	if secret != "" {
		ts, err := strconv.ParseInt(m.Timestamp, 10, 64)
		if err != nil {
			return Message{}, fmt.Errorf("feishu: timestamp %q: %w", m.Timestamp, err)
		}
		if d := now.Sub(time.Unix(ts, 0)); d > signWindow || d < -signWindow {
			return Message{}, fmt.Errorf("feishu: timestamp %d is %s from now", ts, d)
		}
		if want := FeishuSignature(m.Timestamp, secret); !hmac.Equal([]byte(m.Sign), []byte(want)) {
			return Message{}, fmt.Errorf("feishu: sign %q, want %q", m.Sign, want)
		}
	} else if m.Timestamp != "" || m.Sign != "" {
		return Message{}, errors.New("feishu: signed without a secret")
	}
	if m.MsgType != "interactive" || m.Card == nil {
		return Message{}, fmt.Errorf("feishu: msg_type %q, want interactive with a card", m.MsgType)
	}
	if m.Card.Header.Title.Tag != "plain_text" || m.Card.Header.Title.Content == "" {
		return Message{}, errors.New("feishu: the card header needs a plain_text title")
	}
	texts := []string{m.Card.Header.Title.Content}
	for i, e := range m.Card.Elements {
		ts := e.Elements
		if e.Text != nil {
			ts = append(ts, e.Text)
		}
		for _, t := range ts {
			if t.Tag != "plain_text" || t.Content == "" {
				return Message{}, fmt.Errorf("feishu: element %d: text of tag %q, %d bytes", i, t.Tag, len(t.Content))
			}
			texts = append(texts, t.Content)
		}
	}
	return Message{Text: strings.Join(texts, "\n"), Color: m.Card.Header.Template}, nil
}

// FeishuSignature is Feishu's documented signature, computed here independently of the
// sender: Base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = "")).
func FeishuSignature(timestamp, secret string) string {
	h := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// DingTalkSignature is DingTalk's documented signature before URL encoding, computed here
// independently of the sender: Base64(HMAC-SHA256(key = secret, message = timestamp +
// "\n" + secret)).
func DingTalkSignature(timestamp, secret string) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(timestamp + "\n" + secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

type dingtalkMarkdown struct {
	MsgType  string `json:"msgtype"`
	Markdown *struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
	At struct {
		IsAtAll   bool     `json:"isAtAll"`
		AtMobiles []string `json:"atMobiles"`
		AtUserIDs []string `json:"atUserIds"`
	} `json:"at"`
}

func checkDingTalk(req *http.Request, body []byte, secret string, now time.Time) (Message, error) {
	q := req.URL.Query()
	if secret != "" {
		ts := q.Get("timestamp")
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return Message{}, fmt.Errorf("dingtalk: timestamp %q: %w", ts, err)
		}
		if d := now.Sub(time.UnixMilli(ms)); d > signWindow || d < -signWindow {
			return Message{}, fmt.Errorf("dingtalk: timestamp %d is %s from now", ms, d)
		}
		// The query parser has already undone the URL encoding of the Base64 signature.
		if want := DingTalkSignature(ts, secret); !hmac.Equal([]byte(q.Get("sign")), []byte(want)) {
			return Message{}, fmt.Errorf("dingtalk: sign %q, want %q", q.Get("sign"), want)
		}
	} else if q.Has("timestamp") || q.Has("sign") {
		return Message{}, errors.New("dingtalk: signed without a secret")
	}
	var m dingtalkMarkdown
	if err := strict(body, &m); err != nil {
		return Message{}, fmt.Errorf("dingtalk: decoding: %w", err)
	}
	if m.MsgType != "markdown" || m.Markdown == nil || m.Markdown.Title == "" || m.Markdown.Text == "" {
		return Message{}, fmt.Errorf("dingtalk: msgtype %q, want markdown with a title and text", m.MsgType)
	}
	if m.At.IsAtAll || len(m.At.AtMobiles) > 0 || len(m.At.AtUserIDs) > 0 {
		return Message{}, errors.New("dingtalk: the message mentions people")
	}
	if len(m.Markdown.Text) > dingtalkMax {
		return Message{}, fmt.Errorf("dingtalk: markdown.text is %d bytes, over %d", len(m.Markdown.Text), dingtalkMax)
	}
	return Message{Text: m.Markdown.Title + "\n" + m.Markdown.Text}, nil
}

// checkCloudEvent reads the request with the CloudEvents SDK's HTTP binding, requires
// structured mode, validates the event, and reads the record from its data: the record
// itself, or a CDEvent carrying it in customData.
func checkCloudEvent(req *http.Request, body []byte) (Message, error) {
	if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/cloudevents+json") {
		return Message{}, fmt.Errorf("cloudevents: Content-Type %q, want application/cloudevents+json (structured mode)", ct)
	}
	msg := cehttp.NewMessage(req.Header, io.NopCloser(bytes.NewReader(body)))
	if enc := msg.ReadEncoding(); enc != binding.EncodingStructured {
		return Message{}, fmt.Errorf("cloudevents: encoding %s, want structured", enc)
	}
	e, err := binding.ToEvent(context.Background(), msg)
	if err != nil {
		return Message{}, fmt.Errorf("cloudevents: reading the event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Message{}, fmt.Errorf("cloudevents: %w", err)
	}
	if e.SpecVersion() != "1.0" || e.DataContentType() != "application/json" {
		return Message{}, fmt.Errorf("cloudevents: specversion %q, datacontenttype %q", e.SpecVersion(), e.DataContentType())
	}
	out := Message{EventType: e.Type(), EventID: e.ID(), EventSubject: e.Subject(), EventSource: e.Source(), EventTime: e.Time()}
	var r record.Record
	if strings.HasPrefix(e.Type(), "dev.cdevents.") {
		var cd CDEvent
		if err := strict(e.Data(), &cd); err != nil {
			return Message{}, fmt.Errorf("cloudevents: a %s event's data is not a CDEvent: %w", e.Type(), err)
		}
		if err := cd.check(e.Type(), e.ID(), e.Source(), e.Subject()); err != nil {
			return Message{}, fmt.Errorf("cloudevents: %w", err)
		}
		r = cd.CustomData
	} else if err := strict(e.Data(), &r); err != nil {
		return Message{}, fmt.Errorf("cloudevents: the data is not a record: %w", err)
	}
	out.Record = &r
	return out, nil
}

// printable reports whether s is a non-empty line of printable ASCII.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return s != ""
}

func checkWebhook(req *http.Request, body []byte) (Message, error) {
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		return Message{}, fmt.Errorf("webhook: Content-Type %q", ct)
	}
	var r record.Record
	if err := strict(body, &r); err != nil {
		return Message{}, fmt.Errorf("webhook: the body is not a record: %w", err)
	}
	key := req.Header.Get("Idempotency-Key")
	if key == "" || (printable(r.ID) && len(r.ID) <= 256 && key != r.ID) {
		return Message{}, fmt.Errorf("webhook: Idempotency-Key %q for the record's ID %q", key, r.ID)
	}
	return Message{Record: &r}, nil
}
