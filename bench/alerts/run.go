package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sluicedev/sluice/bench/internal/rig"
	"github.com/sluicedev/sluice/e2e/amserver"
	"github.com/sluicedev/sluice/pkg/alerts"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

type options struct {
	runs int
	out  string
}

const token = "bench-alert-token"

// bench is the rig with the receiver and the real Alertmanager pointed at it.
type bench struct {
	rig      *rig.Rig
	receiver string
	am       *amserver.Server
}

func run(ctx context.Context, o options) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("-out %s: %w", o.out, err)
	}
	dir, err := os.MkdirTemp("", "sluice-bench-alerts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b, err := setUp(ctx, dir)
	if err != nil {
		return err
	}
	res := results{Runs: o.runs, Started: time.Now().UTC()}
	for _, path := range []struct {
		name string
		out  *[]float64
		send func(context.Context, int) error
	}{{"receiver", &res.ReceiverMillis, b.postReceiver}, {"alertmanager", &res.AlertmanagerMillis, b.postAlertmanager}} {
		for i := range o.runs {
			ms, err := b.rig.Measure(ctx, func(ctx context.Context) error { return path.send(ctx, i) })
			if err != nil {
				return errors.Join(fmt.Errorf("%s run %d: %w", path.name, i, err), b.stop())
			}
			*path.out = append(*path.out, ms)
			fmt.Printf("%s run %d: %.1f ms\n", path.name, i+1, ms)
		}
	}
	res.Took = time.Since(res.Started).Round(time.Second).String()
	if err := b.stop(); err != nil {
		return err
	}
	return write(o.out, res)
}

// setUp starts the rig with the controller's receiver, and the real Alertmanager.
func setUp(ctx context.Context, dir string) (*bench, error) {
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	_ = l.Close()
	b := &bench{receiver: "http://" + addr + alerts.Path}
	b.rig, err = rig.Start(ctx, dir, manager.Options{Alerts: manager.AlertOptions{BindAddress: addr, Credentials: alerts.Credentials{TokenFile: tokenFile}}}, nil)
	if err != nil {
		return nil, err
	}
	b.am, err = amserver.Start(ctx, dir, amserver.Config{WebhookURL: b.receiver, TokenFile: tokenFile, GroupWait: 0, GroupInterval: 500 * time.Millisecond})
	if err != nil {
		return nil, errors.Join(err, b.rig.Stop())
	}
	return b, nil
}

func (b *bench) stop() error {
	b.am.Stop()
	return b.rig.Stop()
}

// firstAlert is when the first run's alert started firing.
var firstAlert = time.Now().Add(-time.Hour).Truncate(time.Second)

// alert is run i's alert: a start time of its own, so each run's alert is a new one
// (Alertmanager tells alerts apart by their labels, sluice by fingerprint and start).
func alert(i int) amserver.Alert {
	return amserver.Alert{
		Labels:       map[string]string{"alertname": "ReviewsCanaryErrors", "namespace": rig.Namespace, "service": rig.Service, "version": rig.Canary, "run": strconv.Itoa(i)},
		Annotations:  map[string]string{"summary": "reviews v2: 5xx ratio over 5%"},
		StartsAt:     firstAlert.Add(time.Duration(i) * time.Second),
		GeneratorURL: "http://prometheus.bench/graph",
	}
}

// postReceiver calls the receiver directly, as Alertmanager's webhook does.
func (b *bench) postReceiver(ctx context.Context, i int) error {
	a := alert(i)
	body, err := json.Marshal(map[string]any{"version": "4", "status": "firing", "receiver": "sluice", "groupKey": "{}:{}",
		"alerts": []map[string]any{{"status": "firing", "labels": a.Labels, "annotations": a.Annotations, "startsAt": a.StartsAt,
			"endsAt": time.Time{}, "generatorURL": a.GeneratorURL, "fingerprint": fmt.Sprintf("%016x", a.StartsAt.UnixNano())}}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.receiver, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("receiver answered %s", resp.Status)
	}
	return nil
}

// postAlertmanager posts the alert to Alertmanager's API, as Prometheus does.
func (b *bench) postAlertmanager(ctx context.Context, i int) error {
	return b.am.Post(ctx, alert(1000+i))
}
