package meshlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// IstiodOptions configure StartIstiod.
type IstiodOptions struct {
	// Debounce is PILOT_DEBOUNCE_AFTER; 0 keeps istiod's default (100 ms).
	Debounce time.Duration
	// BinDir holds pilot-discovery; "" builds it (or reuses the cache) with
	// e2e/istiodbin/build.sh.
	BinDir string
}

// Istiod is a running pilot-discovery process bound to loopback.
type Istiod struct {
	// XDSAddr is the plaintext xDS (ADS) address, host:port.
	XDSAddr string
	// HTTPAddr serves /ready and /debug/*.
	HTTPAddr string
	// MonitoringAddr serves istiod's own /metrics.
	MonitoringAddr string
	// LogPath is the file istiod's stdout and stderr go to.
	LogPath string
	// Started is how long istiod took from exec to answering /ready.
	Started time.Duration

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of cmd.Wait, valid once done is closed
}

// IstiodBinDir returns the directory holding pilot-discovery, building it first if the
// cache has no entry for e2e/istiodbin (cold: about 4 minutes).
func IstiodBinDir(ctx context.Context) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.RepoRoot(), "e2e", "istiodbin", "build.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building istiod with e2e/istiodbin/build.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// StartIstiod runs pilot-discovery against the API server of kubeconfigPath with every
// listener on 127.0.0.1 (free ports), no CA, no webhooks, and waits until /ready answers.
func StartIstiod(ctx context.Context, kubeconfigPath string, opts IstiodOptions) (*Istiod, error) {
	bin := opts.BinDir
	if bin == "" {
		var err error
		if bin, err = IstiodBinDir(ctx); err != nil {
			return nil, err
		}
	}
	dir, err := os.MkdirTemp("", "meshlab-istiod-")
	if err != nil {
		return nil, fmt.Errorf("creating istiod's work directory: %w", err)
	}
	ports, err := freePorts(4)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	d := &Istiod{
		XDSAddr:        "127.0.0.1:" + strconv.Itoa(ports[0]),
		HTTPAddr:       "127.0.0.1:" + strconv.Itoa(ports[1]),
		MonitoringAddr: "127.0.0.1:" + strconv.Itoa(ports[2]),
		LogPath:        filepath.Join(dir, "istiod.log"),
		dir:            dir,
		done:           make(chan struct{}),
	}
	if err := d.start(ctx, filepath.Join(bin, "pilot-discovery"), kubeconfigPath, ports[3], opts.Debounce); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return d, nil
}

func (d *Istiod) start(ctx context.Context, bin, kubeconfig string, ctrlzPort int, debounce time.Duration) error {
	mesh := filepath.Join(d.dir, "mesh.yaml")
	networks := filepath.Join(d.dir, "networks.yaml")
	if err := os.WriteFile(mesh, []byte("rootNamespace: istio-system\ntrustDomain: cluster.local\n"), 0o600); err != nil {
		return fmt.Errorf("writing istiod's mesh config: %w", err)
	}
	if err := os.WriteFile(networks, []byte("networks: {}\n"), 0o600); err != nil {
		return fmt.Errorf("writing istiod's networks config: %w", err)
	}
	logf, err := os.Create(d.LogPath)
	if err != nil {
		return fmt.Errorf("creating istiod's log: %w", err)
	}
	defer logf.Close()
	d.cmd = exec.Command(bin, "discovery",
		"--kubeconfig="+kubeconfig, "--meshConfig="+mesh, "--networksConfig="+networks,
		"--domain=cluster.local", "--clusterID=Kubernetes",
		"--grpcAddr="+d.XDSAddr, "--secureGRPCAddr=", "--httpsAddr=",
		"--httpAddr="+d.HTTPAddr, "--monitoringAddr="+d.MonitoringAddr,
		"--ctrlz_address=127.0.0.1", "--ctrlz_port="+strconv.Itoa(ctrlzPort))
	d.cmd.Dir = d.dir
	d.cmd.Env = append(os.Environ(), "POD_NAMESPACE=istio-system", "POD_NAME=istiod-local", "REVISION=default",
		"ENABLE_CA_SERVER=false", "PILOT_CERT_PROVIDER=none",
		"VALIDATION_WEBHOOK_CONFIG_NAME=", "INJECTION_WEBHOOK_CONFIG_NAME=")
	if debounce > 0 {
		d.cmd.Env = append(d.cmd.Env, "PILOT_DEBOUNCE_AFTER="+debounce.String())
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	begin := time.Now()
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	if err := d.waitReady(ctx, 90*time.Second); err != nil {
		d.Stop()
		return fmt.Errorf("waiting for istiod to be ready: %w\n%s", err, d.logTail(4096))
	}
	d.Started = time.Since(begin)
	return nil
}

// waitReady polls /ready until it answers 200, istiod exits, or timeout passes.
func (d *Istiod) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	url := "http://" + d.HTTPAddr + "/ready"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-d.done:
			return fmt.Errorf("istiod exited: %v", d.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Debug fetches one of istiod's /debug pages (e.g. "endpointShardz", "configz").
func (d *Istiod) Debug(ctx context.Context, page string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.HTTPAddr+"/debug/"+page, nil)
	if err != nil {
		return nil, fmt.Errorf("fetching istiod /debug/%s: %w", page, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching istiod /debug/%s: %w", page, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		return nil, fmt.Errorf("reading istiod /debug/%s: %w", page, err)
	}
	return b.Bytes(), nil
}

// Stop terminates the process this Istiod started (SIGTERM, then SIGKILL after 5 s) and
// waits for it. The work directory and log stay until Close.
func (d *Istiod) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(5 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
}

// Close stops istiod and deletes its work directory, log included.
func (d *Istiod) Close() {
	d.Stop()
	_ = os.RemoveAll(d.dir)
}

// logTail returns the last n bytes of istiod's log.
func (d *Istiod) logTail(n int64) string {
	data, err := os.ReadFile(d.LogPath)
	if err != nil {
		return ""
	}
	if int64(len(data)) > n {
		data = data[int64(len(data))-n:]
	}
	return string(data)
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	if len(out) != n {
		return nil, errors.New("finding free ports: short")
	}
	return out, nil
}
