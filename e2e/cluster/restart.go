package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// keepAcrossRestarts gives etcd a data directory and the API server a certificate
// directory of their own, so that stopping and starting either keeps the data, the
// serving certificate and the ports, and clients reconnect as to a restarted control
// plane. (envtest removes directories it made itself on every stop.) It returns the
// directory holding both, for Stop to remove.
func keepAcrossRestarts(env *envtest.Environment) (string, error) {
	dir, err := os.MkdirTemp("", "sluice-cluster-")
	if err != nil {
		return "", fmt.Errorf("creating the control plane's directory: %w", err)
	}
	certs := filepath.Join(dir, "apiserver")
	if err := os.Mkdir(certs, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("creating the API server's certificate directory: %w", err)
	}
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: filepath.Join(dir, "etcd")}
	env.ControlPlane.GetAPIServer().CertDir = certs
	return dir, nil
}

// StopEtcd stops etcd, keeping its data; the API server stays up and fails requests
// that need storage until StartEtcd.
func (c *Cluster) StopEtcd() error {
	if err := c.env.ControlPlane.Etcd.Stop(); err != nil {
		return fmt.Errorf("stopping etcd: %w", err)
	}
	return nil
}

// StartEtcd starts etcd again on the same address with the same data.
func (c *Cluster) StartEtcd() error {
	if err := c.env.ControlPlane.Etcd.Start(); err != nil {
		return fmt.Errorf("starting etcd again: %w", err)
	}
	return nil
}

// StopAPIServer stops kube-apiserver: SIGTERM, then SIGKILL after apiServerGrace (its
// graceful shutdown can take envtest's whole 20 s stop timeout while requests are in
// flight); clients get connection errors until StartAPIServer.
func (c *Cluster) StopAPIServer() error {
	pid, err := childPID("kube-apiserver")
	if err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !exited(pid, apiServerGrace) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		exited(pid, apiServerGrace)
	}
	if err := c.env.ControlPlane.APIServer.Stop(); err != nil { // reaps it
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// apiServerGrace is how long StopAPIServer waits after each signal.
const apiServerGrace = 3 * time.Second

// childPID finds the process of this one whose command is name.
func childPID(name string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("listing processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …
		i := bytes.LastIndexByte(stat, ')')
		fields := strings.Fields(string(stat[min(i+1, len(stat)):]))
		if i < 0 || len(fields) < 2 || !bytes.HasSuffix(stat[:i], []byte("("+name)) || fields[0] == "Z" {
			continue
		}
		if ppid, _ := strconv.Atoi(fields[1]); ppid == os.Getpid() {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no %s process started by this one", name)
}

// exited waits up to d for pid to exit (or become a zombie) and reports whether it did.
func exited(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return true
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && bytes.HasPrefix(bytes.TrimSpace(stat[i+1:]), []byte("Z")) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// StartAPIServer starts kube-apiserver again on the same port with the same
// certificates (so Config stays valid) and returns once it is healthy.
func (c *Cluster) StartAPIServer() error {
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}
