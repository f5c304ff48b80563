package amserver

import (
	"context"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var capture = flag.Bool("capture", false, "capture webhook payloads from the real Alertmanager into testdata/alertmanager")

// TestCapture records what the real Alertmanager sends a webhook receiver for a firing
// and then a resolved alert, as testdata/alertmanager/*.json (go test ./e2e/amserver
// -run TestCapture -capture). It also runs without -capture, checking the payloads arrive.
func TestCapture(t *testing.T) {
	if _, err := os.Stat(Binary); err != nil {
		t.Skip(ErrMissing)
	}
	bodies := make(chan []byte, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- b
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	am, err := Start(ctx, t.TempDir(), Config{WebhookURL: "http://" + ln.Addr().String() + "/alertmanager", GroupInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer am.Stop()
	start := time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)
	alert := Alert{
		Labels: map[string]string{"alertname": "CanaryHighErrorRate", "severity": "page", "namespace": "bookinfo",
			"service": "reviews", "version": "v2", "sluice_rollback": "true"},
		Annotations:  map[string]string{"summary": "reviews v2: 5xx ratio 12% over 1m", "runbook_url": "https://runbooks.example.com/canary"},
		StartsAt:     start,
		GeneratorURL: "http://prometheus.example.com/graph?g0.expr=sum%28rate%28istio_requests_total%5B1m%5D%29%29",
	}
	for _, step := range []struct {
		file string
		ends time.Time
	}{{"webhook-v4-firing.json", time.Time{}}, {"webhook-v4-resolved.json", time.Now().Add(-time.Second)}} {
		alert.EndsAt = step.ends
		if err := am.Post(ctx, alert); err != nil {
			t.Fatal(err)
		}
		var body []byte
		select {
		case body = <-bodies:
		case <-ctx.Done():
			t.Fatalf("no webhook call for %s:\n%s", step.file, am.Logs())
		}
		if len(body) == 0 {
			t.Fatalf("empty payload for %s", step.file)
		}
		if *capture {
			if err := os.WriteFile(filepath.Join("..", "..", "testdata", "alertmanager", step.file), body, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
