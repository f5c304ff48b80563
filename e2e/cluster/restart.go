package cluster

import (
	"fmt"
	"os"
	"path/filepath"

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

// StopAPIServer stops kube-apiserver; clients get connection errors until StartAPIServer.
func (c *Cluster) StopAPIServer() error {
	if err := c.env.ControlPlane.APIServer.Stop(); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	return nil
}

// StartAPIServer starts kube-apiserver again on the same port with the same
// certificates (so Config stays valid) and returns once it is healthy.
func (c *Cluster) StartAPIServer() error {
	if err := c.env.ControlPlane.APIServer.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}
