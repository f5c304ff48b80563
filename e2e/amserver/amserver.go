// Package amserver runs a real Alertmanager (Debian's prometheus-alertmanager) on
// loopback, with one webhook receiver, for end-to-end tests and benchmarks.
package amserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Binary is where Debian's prometheus-alertmanager package installs the server.
const Binary = "/usr/bin/prometheus-alertmanager"

// ErrMissing means the alertmanager binary is not installed (hack/install-debs.sh).
var ErrMissing = errors.New(Binary + " not installed (run hack/install-debs.sh)")

// Config is the one route and webhook receiver of the test Alertmanager.
type Config struct {
	// WebhookURL is where notifications go.
	WebhookURL string
	// TokenFile, when set, is sent as a bearer token (http_config.authorization).
	TokenFile string
	// GroupWait, GroupInterval and RepeatInterval are the route's timings (0s, 1s, 1m by default).
	GroupWait, GroupInterval, RepeatInterval time.Duration
}

// Server is a running Alertmanager.
type Server struct {
	URL    string
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
}

// syncBuffer is a buffer the server's output and Logs may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start runs Alertmanager in dir (config and storage) until Stop.
func Start(ctx context.Context, dir string, c Config) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrMissing
	}
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(c.yaml()), 0o600); err != nil {
		return nil, fmt.Errorf("writing alertmanager config: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("picking a port for alertmanager: %w", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	actx, cancel := context.WithCancel(ctx)
	s := &Server{URL: "http://" + addr, cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{}}
	cmd := exec.CommandContext(actx, Binary, "--config.file="+cfgPath, "--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting alertmanager: %w", err)
	}
	go func() { s.done <- cmd.Wait() }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		select {
		case err := <-s.done:
			cancel()
			return nil, fmt.Errorf("alertmanager exited early: %v\n%s", err, s.logs.String())
		default:
		}
		if resp, err := http.Get(s.URL + "/-/ready"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
	}
	s.Stop()
	return nil, fmt.Errorf("alertmanager on %s not ready after 30s:\n%s", addr, s.logs.String())
}

func (c Config) yaml() string {
	d := func(v, def time.Duration) string {
		if v <= 0 {
			v = def
		}
		return strconv.FormatInt(v.Milliseconds(), 10) + "ms"
	}
	auth := ""
	if c.TokenFile != "" {
		auth = fmt.Sprintf("\n    http_config:\n      authorization:\n        type: Bearer\n        credentials_file: %q", c.TokenFile)
	}
	return fmt.Sprintf(`route:
  receiver: sluice
  group_by: [alertname, namespace, service]
  group_wait: %s
  group_interval: %s
  repeat_interval: %s
receivers:
- name: sluice
  webhook_configs:
  - url: %q
    send_resolved: true%s
`, d(c.GroupWait, 0), d(c.GroupInterval, time.Second), d(c.RepeatInterval, time.Minute), c.WebhookURL, auth)
}

// Alert is an alert as Alertmanager's API v2 takes it.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitempty"`
	EndsAt       time.Time         `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Post sends alerts to /api/v2/alerts, as Prometheus does.
func (s *Server) Post(ctx context.Context, alerts ...Alert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("posting alerts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("posting alerts: %s: %s", resp.Status, msg)
	}
	return nil
}

// Counter returns the value of one of Alertmanager's own counters (summed over the
// series whose labels contain every given "name=\"value\"" fragment).
func (s *Server) Counter(ctx context.Context, name string, labels ...string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading alertmanager metrics: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, line := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum, nil
}

// Logs is what Alertmanager printed.
func (s *Server) Logs() string { return s.logs.String() }

// Stop ends the server and waits for it.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}
