package message_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify/message"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

var chatTypes = []v1alpha1.SinkType{v1alpha1.SinkSlack, v1alpha1.SinkWeCom, v1alpha1.SinkFeishu, v1alpha1.SinkDingTalk}

// build makes the request for r to a sink of type typ and reads it back the way the
// real sink does.
func build(t testing.TB, typ v1alpha1.SinkType, tmpl string, r record.Record) notifytest.Message {
	t.Helper()
	target := message.Target{Type: typ, URL: "http://127.0.0.1:9/hook/T0/B0/x?key=k", Secret: "sec", Token: "tok", Template: tmpl}
	req, err := message.Request(context.Background(), target, r, t0)
	if err != nil {
		t.Fatalf("%s: building the request: %v", typ, err)
	}
	m, err := notifytest.Check(typ, target.Secret, target.Token, req, t0)
	if err != nil {
		t.Fatalf("%s: the sink would refuse the request: %v", typ, err)
	}
	return m
}

func TestChatMessagesCarryTheNumbers(t *testing.T) {
	common := []string{
		"canary error rate 9.80%", "v1 1.4.2", "v2 1.5.0", "registry.example.com/shop/reviews:1.5.0",
		"commit 4f2a9c1d8e7b", "alice@example.com", "25% → 0%", "step 2/4", "ErrorRate",
		"510 requests, 50 errors (9.80%), p50 12.5 ms, p99 480.0 ms", "1520 requests, 2 errors (0.13%)",
		"ReviewsErrors", "reviews 5xx above 5%", "decided 2026-03-04T03:00:00Z", "fault → decision 420ms",
		"shop/reviews", "prod-eu",
	}
	tests := map[v1alpha1.SinkType]struct {
		color string
		more  []string
	}{
		v1alpha1.SinkSlack:    {color: "danger", more: []string{"<https://ci.example.com/runs/42|deploy-reviews #42>", "*Weight:*"}},
		v1alpha1.SinkWeCom:    {color: "warning", more: []string{"[deploy-reviews ＃42](https://ci.example.com/runs/42)", "**Weight:**"}},
		v1alpha1.SinkFeishu:   {color: "red", more: []string{"deploy-reviews #42 (https://ci.example.com/runs/42)"}},
		v1alpha1.SinkDingTalk: {more: []string{"[deploy-reviews ＃42](https://ci.example.com/runs/42)", "**Weight:**"}},
	}
	for typ, tc := range tests {
		t.Run(string(typ), func(t *testing.T) {
			m := build(t, typ, "", rollback())
			if m.Color != tc.color {
				t.Errorf("colour %q, want %q", m.Color, tc.color)
			}
			for _, want := range append(common, tc.more...) {
				if !strings.Contains(m.Text, want) {
					t.Errorf("the message lacks %q:\n%s", want, m.Text)
				}
			}
			if typ == v1alpha1.SinkSlack && !strings.Contains(m.Fallback, "Rolled back: shop/reviews") {
				t.Errorf("slack fallback %q lacks the headline", m.Fallback)
			}
		})
	}
}

func TestPromotionColours(t *testing.T) {
	want := map[v1alpha1.SinkType]string{v1alpha1.SinkSlack: "good", v1alpha1.SinkWeCom: "info", v1alpha1.SinkFeishu: "green"}
	for typ, color := range want {
		t.Run(string(typ), func(t *testing.T) {
			m := build(t, typ, "", promotion())
			if m.Color != color {
				t.Errorf("colour %q, want %q", m.Color, color)
			}
			if !strings.Contains(m.Text, "Promoted") || !strings.Contains(m.Text, "50% → 100%") {
				t.Errorf("the promotion message lacks its headline or weights:\n%s", m.Text)
			}
		})
	}
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMachineFormatsCarryTheRecord(t *testing.T) {
	tests := map[string]struct {
		typ      v1alpha1.SinkType
		r        record.Record
		wantType string
	}{
		"cloudevents rollback is a CDEvents service.rolledback": {typ: v1alpha1.SinkCloudEvents, r: rollback(), wantType: notifytest.TypeServiceRolledBack},
		"cloudevents promotion is a CDEvents service.deployed":  {typ: v1alpha1.SinkCloudEvents, r: promotion(), wantType: notifytest.TypeServiceDeployed},
		"cloudevents step is dev.sluice.rollout.step-advanced": {typ: v1alpha1.SinkCloudEvents, r: func() record.Record {
			r := rollback()
			r.Event = record.StepAdvanced
			return r
		}(), wantType: "dev.sluice.rollout.step-advanced"},
		"webhook rollback": {typ: v1alpha1.SinkWebhook, r: rollback()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := build(t, tc.typ, "", tc.r)
			if m.Record == nil {
				t.Fatal("no record in the message")
			}
			if got, want := jsonOf(t, *m.Record), jsonOf(t, tc.r); got != want {
				t.Errorf("record\n got %s\nwant %s", got, want)
			}
			if tc.typ != v1alpha1.SinkCloudEvents {
				return
			}
			if m.EventType != tc.wantType || m.EventSubject != "shop/reviews" || m.EventID != tc.r.ID || !m.EventTime.Equal(t0) {
				t.Errorf("event type %q subject %q id %q time %s; want %q shop/reviews %q %s", m.EventType, m.EventSubject, m.EventID, m.EventTime, tc.wantType, tc.r.ID, t0)
			}
		})
	}
}

func TestCloudEventArtifact(t *testing.T) {
	tests := map[string]struct {
		r    record.Record
		want string
	}{
		"rollback names the stable image, by tag": {r: rollback(), want: "pkg:oci/reviews?repository_url=registry.example.com%2Fshop%2Freviews&tag=1.4.2"},
		"promotion names the canary image, by digest": {r: promotion(),
			want: "pkg:oci/reviews@sha256:0b31b1c02ff458ad9b7b81cbdf8f028bd54699fa151f221d1e8de6817db93427?repository_url=registry.example.com%2Fshop%2Freviews"},
		"no image: a generic purl of the service and subset": {r: func() record.Record {
			r := rollback()
			r.From.Images = nil
			return r
		}(), want: "pkg:generic/reviews@v1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, err := message.Event(tc.r, t0)
			if err != nil {
				t.Fatal(err)
			}
			var cd notifytest.CDEvent
			if err := e.DataAs(&cd); err != nil {
				t.Fatal(err)
			}
			if cd.Subject.Content.ArtifactID != tc.want {
				t.Errorf("artifactId %q, want %q", cd.Subject.Content.ArtifactID, tc.want)
			}
			r, err := message.RecordOf(e)
			if err != nil || r.ID != tc.r.ID {
				t.Errorf("RecordOf: %v, id %q", err, r.ID)
			}
		})
	}
}

// Known-answer vectors for the documented signatures, computed independently of Go with
// OpenSSL 3.0.19 (see the comment on each).
func TestSignatureKnownAnswers(t *testing.T) {
	// printf '' | openssl dgst -sha256 -hmac "$(printf '1599360473\nsluice-feishu-test-secret')" -binary | base64
	// (1599360473 is the timestamp of the example request in Feishu's custom bot guide.)
	const feishu = "Dj0E2xm+3RCVBiZgKUHz5O9ns3f9mGTP5VikT/c4ODE="
	// printf '%s\n%s' 1700000000000 SECsluice0dingtalk0test0secret |
	//   openssl dgst -sha256 -hmac SECsluice0dingtalk0test0secret -binary | base64
	const dingtalk = "JIWrlWA0gid7L29q4xggDZAcXkGrj8DT1evZyd+VgaY="
	tests := map[string]struct{ got, want string }{
		"feishu, package message":      {message.FeishuSign("sluice-feishu-test-secret", 1599360473), feishu},
		"feishu, the test's own":       {notifytest.FeishuSignature("1599360473", "sluice-feishu-test-secret"), feishu},
		"dingtalk, package message":    {message.DingTalkSign("SECsluice0dingtalk0test0secret", 1700000000000), dingtalk},
		"dingtalk, the test's own":     {notifytest.DingTalkSignature("1700000000000", "SECsluice0dingtalk0test0secret"), dingtalk},
		"feishu, other timestamp":      {message.FeishuSign("sluice-feishu-test-secret", 1599360474), "!" + feishu},
		"dingtalk, other secret":       {message.DingTalkSign("SECother", 1700000000000), "!" + dingtalk},
		"feishu is not dingtalk's alg": {message.FeishuSign("SECsluice0dingtalk0test0secret", 1700000000000), "!" + dingtalk},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if want, differ := strings.CutPrefix(tc.want, "!"); differ {
				if tc.got == want {
					t.Errorf("signature %q should differ", tc.got)
				}
				return
			}
			if tc.got != tc.want {
				t.Errorf("signature %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestSignedRequests(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	r := rollback()
	t.Run("dingtalk appends timestamp and the URL-encoded sign to the URL", func(t *testing.T) {
		target := message.Target{Type: v1alpha1.SinkDingTalk, URL: "https://oapi.dingtalk.example/robot/send?access_token=abc", Secret: "SECsluice0dingtalk0test0secret"}
		req, err := message.Request(context.Background(), target, r, now)
		if err != nil {
			t.Fatal(err)
		}
		want := "https://oapi.dingtalk.example/robot/send?access_token=abc&timestamp=1700000000000&sign=JIWrlWA0gid7L29q4xggDZAcXkGrj8DT1evZyd%2BVgaY%3D"
		if req.URL.String() != want {
			t.Errorf("URL\n got %s\nwant %s", req.URL, want)
		}
		if _, err := notifytest.Check(v1alpha1.SinkDingTalk, target.Secret, "", req, now); err != nil {
			t.Error(err)
		}
	})
	t.Run("feishu puts timestamp and sign in the body", func(t *testing.T) {
		target := message.Target{Type: v1alpha1.SinkFeishu, URL: "https://open.feishu.example/open-apis/bot/v2/hook/x", Secret: "sluice-feishu-test-secret"}
		req, err := message.Request(context.Background(), target, r, time.Unix(1599360473, 0))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Timestamp, Sign string }
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Timestamp != "1599360473" || body.Sign != "Dj0E2xm+3RCVBiZgKUHz5O9ns3f9mGTP5VikT/c4ODE=" {
			t.Errorf("timestamp %q sign %q", body.Timestamp, body.Sign)
		}
	})
	t.Run("a wrong secret fails the receiver's check", func(t *testing.T) {
		for _, typ := range []v1alpha1.SinkType{v1alpha1.SinkFeishu, v1alpha1.SinkDingTalk} {
			req, err := message.Request(context.Background(), message.Target{Type: typ, URL: "http://127.0.0.1/x?a=b", Secret: "right"}, r, now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := notifytest.Check(typ, "wrong", "", req, now); err == nil {
				t.Errorf("%s: a request signed with another secret passed the check", typ)
			}
		}
	})
	t.Run("a signature over an hour old fails the receiver's check", func(t *testing.T) {
		for _, typ := range []v1alpha1.SinkType{v1alpha1.SinkFeishu, v1alpha1.SinkDingTalk} {
			req, err := message.Request(context.Background(), message.Target{Type: typ, URL: "http://127.0.0.1/x", Secret: "s"}, r, now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := notifytest.Check(typ, "s", "", req, now.Add(61*time.Minute)); err == nil {
				t.Errorf("%s: a stale signature passed the check", typ)
			}
		}
	})
}

func TestAnswers(t *testing.T) {
	tests := map[string]struct {
		typ       v1alpha1.SinkType
		body      string
		ok, retry bool
	}{
		"wecom ok":                      {typ: v1alpha1.SinkWeCom, body: `{"errcode":0,"errmsg":"ok"}`, ok: true},
		"wecom rate limited":            {typ: v1alpha1.SinkWeCom, body: `{"errcode":45009,"errmsg":"api freq out of limit"}`, retry: true},
		"wecom bad key":                 {typ: v1alpha1.SinkWeCom, body: `{"errcode":93000,"errmsg":"invalid webhook url"}`},
		"wecom without errcode":         {typ: v1alpha1.SinkWeCom, body: `<html>proxy</html>`},
		"dingtalk ok":                   {typ: v1alpha1.SinkDingTalk, body: `{"errcode":0,"errmsg":"ok"}`, ok: true},
		"dingtalk too fast":             {typ: v1alpha1.SinkDingTalk, body: `{"errcode":130101,"errmsg":"send too fast"}`, retry: true},
		"dingtalk bad signature":        {typ: v1alpha1.SinkDingTalk, body: `{"errcode":310000,"errmsg":"sign not match"}`},
		"feishu ok":                     {typ: v1alpha1.SinkFeishu, body: `{"code":0,"msg":"success","data":{}}`, ok: true},
		"feishu legacy ok":              {typ: v1alpha1.SinkFeishu, body: `{"Extra":null,"StatusCode":0,"StatusMessage":"success"}`, ok: true},
		"feishu bad signature":          {typ: v1alpha1.SinkFeishu, body: `{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}`},
		"feishu rate limited":           {typ: v1alpha1.SinkFeishu, body: `{"code":11232,"msg":"frequency limited"}`, retry: true},
		"feishu legacy failure":         {typ: v1alpha1.SinkFeishu, body: `{"StatusCode":9499,"StatusMessage":"Bad Request"}`},
		"slack answers in its status":   {typ: v1alpha1.SinkSlack, body: `ok`, ok: true},
		"webhook answers in its status": {typ: v1alpha1.SinkWebhook, body: ``, ok: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := message.Answer(tc.typ, 200, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("Answer: %v, want ok=%v", err, tc.ok)
			}
			if err == nil {
				return
			}
			ref, isRefused := err.(*message.Refused)
			if !isRefused || ref.Retry != tc.retry {
				t.Errorf("Answer: %#v, want a *Refused with Retry=%v", err, tc.retry)
			}
		})
	}
}

func TestWhereAndRedactError(t *testing.T) {
	secretURL := "https://hooks.slack.example/services/T000/B000/XXXXSECRET?key=QUERYSECRET"
	if got := message.Where(secretURL); got != "https://hooks.slack.example" {
		t.Errorf("Where: %q", got)
	}
	err := message.RedactError(&url.Error{Op: "Post", URL: secretURL, Err: context.DeadlineExceeded})
	if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "hooks.slack.example") {
		t.Errorf("redacted error %q", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the redacted error lost its cause: %v", err)
	}
}
