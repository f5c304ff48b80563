// Package alerts receives Alertmanager's webhook: it authenticates the caller, decodes
// payload version 4, and records each firing alert on the TrafficShift of the Service it
// names, for the leader to act on. Any replica may receive; the record is durable before
// Alertmanager gets its answer.
package alerts

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/prometheus/alertmanager/template"
)

// PayloadVersion is the webhook payload version sluice reads.
const PayloadVersion = "4"

// Message is Alertmanager's webhook payload: its own template.Data (receiver, status,
// alerts, group and common labels and annotations, external URL) and the envelope fields
// of its webhook notifier (notify/webhook.Message), declared here because that package
// would bring Alertmanager's whole notification stack along.
type Message struct {
	*template.Data
	// Version is the payload version, "4".
	Version string `json:"version"`
	// GroupKey identifies the alert group.
	GroupKey string `json:"groupKey"`
	// TruncatedAlerts counts the alerts left out for the receiver's max_alerts.
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// Decode reads one payload. Fields it does not know (newer Alertmanagers add some) are
// accepted; a payload of another version, trailing data or no data is an error.
func Decode(r io.Reader) (*Message, error) {
	dec := json.NewDecoder(r)
	m := &Message{}
	if err := dec.Decode(m); err != nil {
		return nil, fmt.Errorf("decoding the webhook payload: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding the webhook payload: data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding the webhook payload: data after the JSON object")
	}
	if m.Version != PayloadVersion {
		return nil, fmt.Errorf("payload version %q: expected %q (Alertmanager's webhook payload)", m.Version, PayloadVersion)
	}
	if m.Data == nil {
		return nil, errors.New("decoding the webhook payload: no alerts")
	}
	return m, nil
}
