package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/notify/message"
)

// outcome is what one attempt came to.
type outcome struct {
	err   error
	retry bool
	// after is how long the sink asked to wait (Retry-After), or 0.
	after time.Duration
}

// maxAnswer bounds how much of a sink's answer is read.
const maxAnswer = 64 << 10

// attempt sends it once, within Timeout, and classifies the answer: network errors,
// timeouts, 5xx, 429 and a robot's rate-limit code are worth retrying (after
// Retry-After when the sink says); another 4xx or a robot's error code is not.
func (n *Notifier) attempt(ctx context.Context, it item) outcome {
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	now := n.o.Clock.Now()
	t := message.Target{Type: it.sink.Type, URL: it.sink.URL, Secret: it.sink.Secret, Token: it.sink.Token, Template: it.sink.Template}
	req, err := message.Request(ctx, t, it.rec, now)
	if err != nil {
		return outcome{err: fmt.Errorf("building the message: %w", message.RedactError(err))}
	}
	resp, err := n.o.HTTPClient.Do(req)
	if err != nil {
		return outcome{err: fmt.Errorf("sending the message: %w", message.RedactError(err)), retry: true}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return outcome{err: fmt.Errorf("reading the answer of %s: %w", message.Where(it.sink.URL), message.RedactError(err)), retry: true}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	answer := message.Answer(it.sink.Type, resp.StatusCode, body)
	var refused *message.Refused
	isRefused := errors.As(answer, &refused)
	code := resp.StatusCode
	switch {
	case code == http.StatusTooManyRequests || code >= 500:
		return outcome{err: statusError(it, code, body), retry: true, after: retryAfter(resp.Header, now)}
	case code/100 == 2 && answer == nil:
		return outcome{}
	case code/100 == 2:
		return outcome{err: answer, retry: isRefused && refused.Retry}
	case isRefused && refused.Retry: // a robot's rate limit in a 4xx
		return outcome{err: answer, retry: true, after: retryAfter(resp.Header, now)}
	}
	return outcome{err: statusError(it, code, body)}
}

func statusError(it item, code int, body []byte) error {
	b := strings.Join(strings.Fields(strings.ToValidUTF8(string(body[:min(len(body), 200)]), "?")), " ")
	return fmt.Errorf("%s answered HTTP %d: %s", message.Where(it.sink.URL), code, b)
}

// retryAfter is the wait a sink asks for: Retry-After in seconds or as an HTTP date, or
// Feishu's x-ogw-ratelimit-reset in seconds.
func retryAfter(h http.Header, now time.Time) time.Duration {
	for _, k := range []string{"Retry-After", "X-Ogw-Ratelimit-Reset"} {
		v := strings.TrimSpace(h.Get(k))
		if v == "" {
			continue
		}
		if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
			return time.Duration(min(s, 24*3600)) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	return 0
}
