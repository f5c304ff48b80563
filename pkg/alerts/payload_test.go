package alerts

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const payloads = "../../testdata/alertmanager"

func readPayload(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(payloads, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// The payloads the real Alertmanager sent decode to what it was given.
func TestDecodeCaptured(t *testing.T) {
	tests := map[string]struct {
		file, status string
		resolved     bool
	}{
		"firing":   {file: "webhook-v4-firing.json", status: "firing"},
		"resolved": {file: "webhook-v4-resolved.json", status: "resolved", resolved: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := Decode(bytes.NewReader(readPayload(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if m.Version != "4" || m.Status != tc.status || m.Receiver != "sluice" || !strings.Contains(m.GroupKey, "CanaryHighErrorRate") || len(m.Alerts) != 1 {
				t.Fatalf("decoded %+v", m)
			}
			a := m.Alerts[0]
			want := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
			if a.Status != tc.status || a.Labels["service"] != "reviews" || a.Labels["version"] != "v2" || a.Fingerprint != "04455ec722ad7a70" ||
				!a.StartsAt.Equal(want) || a.Annotations["summary"] == "" || !strings.HasPrefix(a.GeneratorURL, "http://prometheus.example.com/") {
				t.Fatalf("alert %+v", a)
			}
			if a.EndsAt.IsZero() != !tc.resolved {
				t.Fatalf("endsAt %v for a %s alert", a.EndsAt, tc.status)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	firing := string(readPayload(t, "webhook-v4-firing.json"))
	tests := map[string]struct {
		body, want string
	}{
		"empty":         {"", "decoding"},
		"not JSON":      {"alert!", "decoding"},
		"an array":      {"[]", "decoding"},
		"version 3":     {strings.Replace(firing, `"version":"4"`, `"version":"3"`, 1), `version "3"`},
		"no version":    {`{"status":"firing","alerts":[]}`, `version ""`},
		"trailing data": {firing + `{"x":1}`, "data after"},
		"wrong type":    {`{"version":"4","alerts":"many"}`, "decoding"},
		"null":          {"null", `version ""`},
		"bad time":      {`{"version":"4","alerts":[{"startsAt":"yesterday"}]}`, "decoding"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// Fields a newer Alertmanager adds are accepted.
func TestDecodeUnknownFields(t *testing.T) {
	body := strings.Replace(string(readPayload(t, "webhook-v4-firing.json")), `"version":"4"`, `"version":"4","someFutureField":{"a":[1,2]}`, 1)
	body = strings.Replace(body, `"fingerprint":`, `"silencedBy":["x"],"fingerprint":`, 1)
	if _, err := Decode(strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecode: any input decodes or fails cleanly; what decodes is version 4 with alerts data.
func FuzzDecode(f *testing.F) {
	f.Add(readPayload(f, "webhook-v4-firing.json"))
	f.Add(readPayload(f, "webhook-v4-resolved.json"))
	f.Add([]byte(`{"version":"4"}`))
	f.Add([]byte(`{"version":"4","alerts":[{"labels":null}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Decode(bytes.NewReader(body))
		if err != nil {
			return
		}
		if m.Version != PayloadVersion || m.Data == nil {
			t.Fatalf("accepted %+v", m)
		}
		sel := DefaultSelector()
		for _, a := range m.Alerts {
			_, _, _ = sel.Target(a.Labels)
			_ = newRecord(a)
		}
	})
}
