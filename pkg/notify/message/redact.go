package message

import (
	"errors"
	"fmt"
	"net/url"
)

// Where is the scheme and host of a sink URL, the only part of it that may be logged:
// the path and query of a webhook URL are often its credential (a Slack or Feishu hook
// path, a WeCom key, a DingTalk access token).
func Where(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host
}

// RedactError returns err with the URL of any *url.Error in it reduced to Where(URL), so
// an error from an HTTP client can be logged and shown in an Event.
func RedactError(err error) error {
	return redactURLError(err)
}

func redactURLError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("%s %s: %w", ue.Op, Where(ue.URL), redactURLError(ue.Err))
}
