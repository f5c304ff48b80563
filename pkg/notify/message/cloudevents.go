package message

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/sluicedev/sluice/pkg/record"
)

// cloudEventsFormat sends CloudEvents 1.0 over HTTP in structured mode
// (Content-Type: application/cloudevents+json), built and encoded by the CloudEvents Go
// SDK. The type follows CDEvents where it names the transition (see cdevents.go) and is
// dev.sluice.rollout.<event> otherwise; subject is namespace/service; id is the record's
// ID, so a retried delivery keeps its id and a receiver can drop the repeat; time is
// when sluice decided.
type cloudEventsFormat struct{}

func (cloudEventsFormat) every() time.Duration { return 100 * time.Millisecond }

// SluiceTypePrefix starts the type of the transitions CDEvents has no type for.
const SluiceTypePrefix = "dev.sluice.rollout."

func (cloudEventsFormat) request(ctx context.Context, t Target, r record.Record, now time.Time) (*http.Request, error) {
	e, err := Event(r, now)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("building the CloudEvents request: %w", redactURLError(err))
	}
	if err := cehttp.WriteRequest(binding.WithForceStructured(ctx), binding.ToMessage(&e), req); err != nil {
		return nil, fmt.Errorf("encoding the CloudEvent: %w", err)
	}
	if err := setCommonHeaders(req, t, r); err != nil {
		return nil, err
	}
	return req, nil
}

// Event is the CloudEvent of r; now stands in for the decision time when r has none.
func Event(r record.Record, now time.Time) (event.Event, error) {
	m := machineView(r)
	at := m.Times.DecidedAt
	if at.IsZero() {
		at = now
	}
	at = at.UTC()
	id := eventID(m)
	source := "/sluice"
	if m.Cluster != "" {
		source += "/" + url.PathEscape(oneLine(m.Cluster))
	}
	e := event.New(event.CloudEventsVersionV1)
	e.SetID(id)
	e.SetSource(source)
	subject := oneLine(m.Namespace + "/" + m.Service)
	e.SetSubject(subject)
	e.SetTime(at)
	var data any = m
	if typ, ok := cdeventTypes[m.Event]; ok {
		e.SetType(typ)
		e.SetDataSchema(cdeventSchemas[typ])
		// The values as the event holds them: its setters trim spaces, and the CDEvent's
		// context and subject must match its CloudEvent's exactly.
		data = cdevent(m, typ, e.ID(), e.Source(), e.Subject(), at)
	} else {
		e.SetType(SluiceTypePrefix + typeWord(string(m.Event)))
	}
	body, err := encode(data)
	if err != nil {
		return event.Event{}, err
	}
	if err := e.SetData(event.ApplicationJSON, json.RawMessage(body)); err != nil {
		return event.Event{}, fmt.Errorf("setting the CloudEvent's data: %w", err)
	}
	if err := e.Validate(); err != nil {
		return event.Event{}, fmt.Errorf("building the CloudEvent: %w", err)
	}
	return e, nil
}

// eventID is the record's ID as a CloudEvents id (one printable line), or, for a record
// without one, a digest of the record, which is just as stable.
func eventID(m record.Record) string {
	if id := strings.TrimSpace(oneLine(m.ID)); id != "" {
		return cut(id, 256)
	}
	b, _ := json.Marshal(m)
	sum := sha256.Sum256(b)
	return "sha256-" + hex.EncodeToString(sum[:16])
}

// typeWord is an event name reduced to lower-case letters, digits and dashes.
func typeWord(s string) string {
	w := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
	return orText(cut(w, 64), "unknown")
}

// RecordOf reads the record back from a CloudEvent this package built, whichever of the
// two shapes its data has (a CDEvent carrying the record, or the record itself).
func RecordOf(e event.Event) (record.Record, error) {
	var r record.Record
	if _, ok := cdeventSchemas[e.Type()]; ok {
		var cd CDEvent
		if err := e.DataAs(&cd); err != nil {
			return r, fmt.Errorf("reading the CDEvent in a %s CloudEvent: %w", e.Type(), err)
		}
		return cd.CustomData, nil
	}
	if err := e.DataAs(&r); err != nil {
		return r, fmt.Errorf("reading the record in a %s CloudEvent: %w", e.Type(), err)
	}
	return r, nil
}

func (cloudEventsFormat) answer(int, []byte) error { return nil }
