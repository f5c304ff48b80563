package meshlab

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/xds"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// CallerConfig describes one proxyless gRPC caller pod.
type CallerConfig struct {
	Name, Namespace string // pod identity, used in the xDS node id and source labels
	IP              string // 127.0.0.M: the pod IP; stats and config_dump serve on IP:15090
	// IstiodAddr is istiod's plaintext xDS address (Istiod.XDSAddr).
	IstiodAddr string
	// Target is the service the caller calls: "<svc>.<ns>.svc.cluster.local:<port>".
	Target string
	// Rate is calls per second; 0 sends nothing until SetRate.
	Rate float64
	// Timeout is every call's deadline; default 1 s.
	Timeout time.Duration
	// IstioVersion is the node's ISTIO_VERSION metadata; default "1.27.0".
	IstioVersion string
}

// Caller sends unary calls through grpc-go's xDS resolver, configured by istiod, at a set
// rate, and reports them as an Istio sidecar's Envoy would.
type Caller struct {
	cfg   CallerConfig
	rec   *xdsRecorder
	cc    *grpc.ClientConn
	hs    *http.Server
	rate  atomic.Uint64 // math.Float64bits of calls per second
	stats counters[callerKey]
	// unrouted counts call attempts that failed before reaching any backend.
	unrouted atomic.Uint64
	res      clusterResolver

	stop     context.CancelFunc
	loopDone chan struct{}
	inflight sync.WaitGroup
	srvDone  chan struct{}
}

// callerKey is one upstream cluster, HTTP response code (as Envoy charges it) and gRPC status.
type callerKey struct {
	cluster    string
	code       int
	grpcStatus codes.Code
}

// failed reports whether an outcome is a failure: an HTTP 5xx, or a gRPC status the
// server is to blame for (traffic.GRPCServerFailure) over an HTTP 200.
func failed(code int, st codes.Code) bool {
	return code >= 500 || traffic.GRPCServerFailure(strconv.Itoa(int(st)))
}

// Bootstrap returns the grpc-go xDS bootstrap of a caller, the way Istio's agent writes
// it for proxyless gRPC: GENERATOR=grpc is what makes istiod send gRPC-shaped resources.
func Bootstrap(cfg CallerConfig, xdsServer string) ([]byte, error) {
	version := cfg.IstioVersion
	if version == "" {
		version = "1.27.0"
	}
	doc := map[string]any{
		"xds_servers": []any{map[string]any{
			"server_uri":      xdsServer,
			"channel_creds":   []any{map[string]any{"type": "insecure"}},
			"server_features": []any{"xds_v3"},
		}},
		"node": map[string]any{
			"id": fmt.Sprintf("sidecar~%s~%s.%s~%s.svc.cluster.local", cfg.IP, cfg.Name, cfg.Namespace, cfg.Namespace),
			"metadata": map[string]any{
				"GENERATOR":     "grpc",
				"NAMESPACE":     cfg.Namespace,
				"CLUSTER_ID":    "Kubernetes",
				"INSTANCE_IPS":  cfg.IP,
				"ISTIO_VERSION": version,
				"NAME":          cfg.Name,
				"LABELS":        map[string]string{"app": cfg.Name},
			},
			"locality": map[string]any{},
		},
		"server_listener_resource_name_template": "xds.istio.io/grpc/lds/inbound/%s",
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rendering the xDS bootstrap: %w", err)
	}
	return out, nil
}

// StartCaller starts the caller's xDS recorder, channel, admin server and call loop.
func StartCaller(ctx context.Context, cfg CallerConfig) (*Caller, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	rec, err := startXDSRecorder(cfg.IP, cfg.IstiodAddr)
	if err != nil {
		return nil, err
	}
	c := &Caller{cfg: cfg, rec: rec, loopDone: make(chan struct{}), srvDone: make(chan struct{})}
	c.res.rec = rec
	c.SetRate(cfg.Rate)
	if err := c.dial(); err != nil {
		rec.stop()
		return nil, err
	}
	if err := c.serveAdmin(); err != nil {
		c.cc.Close()
		rec.stop()
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = cancel
	go c.loop(loopCtx)
	return c, nil
}

func (c *Caller) dial() error {
	boot, err := Bootstrap(c.cfg, c.rec.addr)
	if err != nil {
		return err
	}
	builder, err := xds.NewXDSResolverWithConfigForTesting(boot)
	if err != nil {
		return fmt.Errorf("building the xDS resolver of caller %s: %w", c.cfg.Name, err)
	}
	c.cc, err = grpc.NewClient("xds:///"+c.cfg.Target,
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(builder),
		grpc.WithStatsHandler(attemptCounter{c}))
	if err != nil {
		return fmt.Errorf("creating the channel of caller %s to %s: %w", c.cfg.Name, c.cfg.Target, err)
	}
	return nil
}

func (c *Caller) serveAdmin() error {
	l, err := net.Listen("tcp", net.JoinHostPort(c.cfg.IP, strconv.Itoa(StatsPort)))
	if err != nil {
		return fmt.Errorf("starting the admin server of caller %s: %w", c.cfg.Name, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stats/prometheus", c.serveStats)
	mux.HandleFunc("/config_dump", c.serveConfigDump)
	c.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { defer close(c.srvDone); _ = c.hs.Serve(l) }()
	return nil
}

// SetRate changes the call rate (calls per second; 0 pauses).
func (c *Caller) SetRate(r float64) { c.rate.Store(math.Float64bits(max(r, 0))) }

func (c *Caller) currentRate() float64 { return math.Float64frombits(c.rate.Load()) }

// loop starts calls at the current rate, each in its own goroutine with a deadline.
func (c *Caller) loop(ctx context.Context) {
	defer close(c.loopDone)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			r := c.currentRate()
			if r <= 0 {
				next = now
				continue
			}
			interval := time.Duration(float64(time.Second) / r)
			if now.Sub(next) > time.Second {
				next = now // do not burst after a pause or a stall
			}
			for !next.After(now) {
				next = next.Add(interval)
				c.inflight.Add(1)
				go func() { defer c.inflight.Done(); c.call(ctx) }()
			}
		}
	}
}

// call makes one RPC; attemptCounter counts it.
func (c *Caller) call(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, mdSourceWorkload, c.cfg.Name, mdSourceNamespace, c.cfg.Namespace)
	_ = c.cc.Invoke(ctx, Method, new(emptypb.Empty), new(emptypb.Empty))
}

// ClusterCounts are the call attempts a caller made to one upstream cluster (a call
// retried by Istio's retry policy counts once per attempt, as in Envoy's stats).
type ClusterCounts struct {
	Requests, Errors uint64    // Errors: 5xx, or a gRPC server failure (see failed)
	Last             time.Time // when the latest attempt to the cluster completed
}

// Counts returns per upstream cluster (outbound|PORT|SUBSET|HOST) what the caller sent.
func (c *Caller) Counts() map[string]ClusterCounts {
	out := map[string]ClusterCounts{}
	for k, s := range c.stats.snapshot() {
		cc := out[k.cluster]
		cc.Requests += s.Count
		if failed(k.code, k.grpcStatus) {
			cc.Errors += s.Count
		}
		if s.last.After(cc.Last) {
			cc.Last = s.last
		}
		out[k.cluster] = cc
	}
	return out
}

// Unrouted is the number of call attempts that failed before reaching any backend.
func (c *Caller) Unrouted() uint64 { return c.unrouted.Load() }

// StatsURL is the caller's Envoy-style stats page; ConfigDumpURL its /config_dump.
func (c *Caller) StatsURL() string {
	return "http://" + net.JoinHostPort(c.cfg.IP, strconv.Itoa(StatsPort)) + "/stats/prometheus"
}

// ConfigDumpURL is the caller's Envoy-admin-format /config_dump.
func (c *Caller) ConfigDumpURL() string {
	return "http://" + net.JoinHostPort(c.cfg.IP, strconv.Itoa(StatsPort)) + "/config_dump"
}

// ConfigDump renders the xDS resources the caller's client has ACKed, in Envoy's
// /config_dump format.
func (c *Caller) ConfigDump(includeEDS bool) ([]byte, error) {
	applied, _ := c.rec.snapshot()
	return buildConfigDump(applied, includeEDS)
}

// NACKs is how many xDS responses the client rejected.
func (c *Caller) NACKs() int {
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	return c.rec.nacks
}

// Stop ends the call loop, waits for calls in flight and closes everything.
func (c *Caller) Stop() {
	c.stop()
	<-c.loopDone
	c.inflight.Wait()
	_ = c.hs.Close()
	<-c.srvDone
	c.cc.Close()
	c.rec.stop()
}

func (c *Caller) serveConfigDump(w http.ResponseWriter, r *http.Request) {
	_, eds := r.URL.Query()["include_eds"]
	data, err := c.ConfigDump(eds)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}
