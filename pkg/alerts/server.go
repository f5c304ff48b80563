package alerts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// Server serves the receiver on its own listener. It runs on every replica (it needs no
// leader): Alertmanager may reach any of them, and the record it writes reaches the
// leader through its watch.
type Server struct {
	// Addr is the listen address, e.g. ":9443".
	Addr    string
	Handler http.Handler
	// CertFile and KeyFile, when set, serve TLS; the pair is reloaded when it changes.
	CertFile, KeyFile string
	Log               logr.Logger
}

// NeedLeaderElection is false: every replica receives alerts.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	mux := http.NewServeMux()
	mux.Handle(Path, s.Handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("alert receiver: listening on %s: %w", s.Addr, err)
	}
	if s.CertFile != "" || s.KeyFile != "" {
		cw, err := certwatcher.New(s.CertFile, s.KeyFile)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("alert receiver: loading TLS certificate: %w", err)
		}
		go func() {
			if err := cw.Start(ctx); err != nil {
				s.Log.Error(err, "watching the alert receiver's TLS certificate")
			}
		}()
		ln = tls.NewListener(ln, &tls.Config{GetCertificate: cw.GetCertificate, MinVersion: tls.VersionTLS12})
	}
	s.Log.Info("alert receiver listening", "address", ln.Addr().String(), "path", Path, "tls", s.CertFile != "")
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("alert receiver: %w", err)
	}
	return nil
}
