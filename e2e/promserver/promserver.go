// Package promserver runs a real Prometheus (Debian's package) on loopback, scraping
// stand-in sidecars found through a file_sd targets file, for end-to-end tests.
package promserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// Binary is where Debian's prometheus package installs the server.
const Binary = "/usr/bin/prometheus"

// ErrMissing means the prometheus binary is not installed (hack/install-debs.sh).
var ErrMissing = errors.New(Binary + " not installed (run hack/install-debs.sh)")

// Server is a running Prometheus.
type Server struct {
	URL     string
	dir     string
	cancel  context.CancelFunc
	done    chan error
	logs    *bytes.Buffer
	targets sync.Mutex
	all     map[string][]string
}

// Start runs Prometheus with a 1 s scrape interval in dir; targets come from SetTargets.
func Start(ctx context.Context, dir string) (*Server, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, ErrMissing
	}
	cfg := `global: {scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s}
scrape_configs:
  - job_name: sidecars
    metrics_path: /stats/prometheus
    file_sd_configs: [{files: ['` + filepath.Join(dir, "targets.json") + `'], refresh_interval: 1s}]
`
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("writing prometheus config: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "targets.json"), []byte("[]"), 0o600); err != nil {
		return nil, fmt.Errorf("writing prometheus targets: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("picking a port for prometheus: %w", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	pctx, cancel := context.WithCancel(ctx)
	s := &Server{URL: "http://" + addr, dir: dir, cancel: cancel, done: make(chan error, 1), logs: &bytes.Buffer{}, all: map[string][]string{}}
	cmd := exec.CommandContext(pctx, Binary, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting prometheus: %w", err)
	}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			cancel()
			return nil, fmt.Errorf("prometheus exited early: %v\n%s", err, s.logs.String())
		default:
		}
		if resp, err := http.Get(s.URL + "/-/ready"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.Stop()
	return nil, fmt.Errorf("prometheus on %s not ready after 30s:\n%s", addr, s.logs.String())
}

// SetTargets sets the scrape targets (host:port) of group, replacing its earlier ones.
func (s *Server) SetTargets(group string, targets []string) error {
	s.targets.Lock()
	defer s.targets.Unlock()
	s.all[group] = targets
	type sd struct {
		Targets []string          `json:"targets"`
		Labels  map[string]string `json:"labels"`
	}
	var groups []sd
	for g, ts := range s.all {
		groups = append(groups, sd{Targets: ts, Labels: map[string]string{"group": g}})
	}
	data, err := json.Marshal(groups)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, "targets.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("writing prometheus targets: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.dir, "targets.json"))
}

// Stop ends the server and waits for it.
func (s *Server) Stop() {
	s.cancel()
	<-s.done
}
