package standin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// StatsPort is the port of Envoy's Prometheus endpoint in an Istio sidecar.
const StatsPort = 15090

// StatsPath is the path of Envoy's Prometheus endpoint.
const StatsPath = "/stats/prometheus"

// statsServer serves one pod's stats on podIP:StatsPort.
type statsServer struct {
	srv  *http.Server
	done chan struct{}
}

// startStatsServer listens on ip:StatsPort (never on all addresses) and serves stats.
func startStatsServer(ip netip.Addr, stats *podStats) (*statsServer, error) {
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(StatsPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for stand-in stats: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatsPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_ = stats.writePrometheus(w) // a failed write means the scraper went away
	})
	s := &statsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		// Serve returns ErrServerClosed after close; any other error means the
		// listener broke and the pod's stats go dark, as a dead sidecar's would.
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// close stops accepting, closes idle connections, waits briefly for active ones and
// returns once the server has stopped.
func (s *statsServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}
