package message

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/sluicedev/sluice/pkg/record"
)

// webhookFormat POSTs the record itself as JSON (package record's stable schema), every
// string valid UTF-8 and at most 4 KiB, with the record's ID (as the CloudEvent's id: one
// line of at most 256 bytes) as Idempotency-Key, so a receiver can drop a retried delivery
// it already has.
type webhookFormat struct{}

// every is a courtesy to receivers that document no limit.
func (webhookFormat) every() time.Duration { return 100 * time.Millisecond }

func (webhookFormat) request(ctx context.Context, t Target, r record.Record, _ time.Time) (*http.Request, error) {
	req, err := postJSON(ctx, t.URL, machineView(r), "application/json")
	if err != nil {
		return nil, err
	}
	if err := setCommonHeaders(req, t, r); err != nil {
		return nil, err
	}
	return req, nil
}

func setCommonHeaders(req *http.Request, t Target, r record.Record) error {
	if t.Token != "" {
		if !validHeader(t.Token) {
			return errors.New("the sink's token holds a control character; it cannot be sent as a header")
		}
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	req.Header.Set("Idempotency-Key", eventID(machineView(r)))
	req.Header.Set("User-Agent", "sluice-notify")
	return nil
}

// validHeader reports whether s can be a header value as it is.
func validHeader(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func (webhookFormat) answer(int, []byte) error { return nil }
