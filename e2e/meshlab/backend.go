package meshlab

import (
	"bufio"
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/sluicedev/sluice/e2e/promtext"
)

// StatsPort is the port of a pod's Istio stats page (/stats/prometheus), as Envoy's.
const StatsPort = 15090

// Method is the unary gRPC method callers send and backends answer (any method is
// answered; no generated service is needed). Request and response are google.protobuf.Empty.
const Method = "/sluice.meshlab.Echo/Call"

// Source metadata keys a caller sends so backends can report source_* labels.
const (
	mdSourceWorkload  = "x-meshlab-source-workload"
	mdSourceNamespace = "x-meshlab-source-namespace"
)

// Behaviour is how a backend answers; it can be changed at run time.
type Behaviour struct {
	// ErrorRate is the fraction of calls answered with ErrorCode.
	ErrorRate float64
	// ErrorCode is the failing calls' status; default INTERNAL. As with Istio, stats show
	// it as response_code="200" with grpc_response_status set (a gRPC failure travels in
	// the trailers of a completed HTTP/2 exchange). Istio's
	// default route retry policy makes clients retry UNAVAILABLE and CANCELLED on another
	// host, so those reach the caller's stats only when every attempt fails.
	ErrorCode codes.Code
	// Latency is added to every call before it is answered.
	Latency time.Duration
}

// Workload is a backend pod's identity, as its sidecar would report it.
type Workload struct {
	Namespace, Service string // the Service the pod serves
	Name               string // pod name
	App, Version       string // app and version labels; Version is also the subset name
}

// Backend is one pod: a gRPC server on IP:Port and its destination-side stats on IP:15090.
type Backend struct {
	IP   string
	Port int
	ID   Workload

	mu    sync.Mutex
	beh   Behaviour
	stats counters[destKey]
	gs    *grpc.Server
	hs    *http.Server
	wg    sync.WaitGroup
}

// destKey is one istio_requests_total series of a backend.
type destKey struct {
	code                     int
	grpcStatus               codes.Code
	sourceWorkload, sourceNs string
}

// StartBackend serves Method on ip:port and the stats page on ip:15090.
func StartBackend(ip string, port int, id Workload) (*Backend, error) {
	b := &Backend{IP: ip, Port: port, ID: id}
	gl, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("starting backend %s: %w", id.Name, err)
	}
	sl, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(StatsPort)))
	if err != nil {
		gl.Close()
		return nil, fmt.Errorf("starting backend %s stats: %w", id.Name, err)
	}
	b.gs = grpc.NewServer(grpc.UnknownServiceHandler(b.handle))
	mux := http.NewServeMux()
	mux.HandleFunc("/stats/prometheus", b.serveStats)
	b.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	b.wg.Add(2)
	go func() { defer b.wg.Done(); _ = b.gs.Serve(gl) }()
	go func() { defer b.wg.Done(); _ = b.hs.Serve(sl) }()
	return b, nil
}

// SetBehaviour changes how the backend answers from now on.
func (b *Backend) SetBehaviour(beh Behaviour) {
	b.mu.Lock()
	b.beh = beh
	b.mu.Unlock()
}

// Served returns the calls answered so far and how many of them failed.
func (b *Backend) Served() (requests, errors uint64) {
	for k, s := range b.stats.snapshot() {
		requests += s.Count
		if failed(k.code, k.grpcStatus) {
			errors += s.Count
		}
	}
	return requests, errors
}

// StatsURL is the backend's Istio stats page.
func (b *Backend) StatsURL() string {
	return "http://" + net.JoinHostPort(b.IP, strconv.Itoa(StatsPort)) + "/stats/prometheus"
}

// Stop closes both servers.
func (b *Backend) Stop() {
	b.gs.Stop()
	_ = b.hs.Close()
	b.wg.Wait()
}

func (b *Backend) handle(_ any, stream grpc.ServerStream) error {
	start := time.Now()
	if err := stream.RecvMsg(new(emptypb.Empty)); err != nil {
		return err
	}
	b.mu.Lock()
	beh := b.beh
	b.mu.Unlock()
	if beh.Latency > 0 {
		select {
		case <-time.After(beh.Latency):
		case <-stream.Context().Done():
		}
	}
	var err error
	httpStatus := 200 // the app answers over HTTP/2: 200, its gRPC status in the trailers
	if beh.ErrorRate > 0 && rand.Float64() < beh.ErrorRate {
		code := beh.ErrorCode
		if code == codes.OK {
			code = codes.Internal
		}
		err = status.Error(code, "meshlab: injected fault")
	} else if err = stream.Context().Err(); err == nil {
		err = stream.SendMsg(new(emptypb.Empty))
	} else {
		httpStatus = httpCode(err) // the caller gave up before the answer
	}
	md, _ := metadata.FromIncomingContext(stream.Context())
	k := destKey{code: httpStatus, grpcStatus: status.Code(err), sourceWorkload: first(md, mdSourceWorkload), sourceNs: first(md, mdSourceNamespace)}
	b.stats.record(k, time.Since(start), time.Now())
	return err
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return "unknown"
}

// httpCode is the HTTP status Envoy charges when it answers in place of the backend (the
// exchange never completed): 200 for OK, 503 for UNAVAILABLE (connect failure, reset),
// 504 for DEADLINE_EXCEEDED (timeout), 499 for CANCELLED, 500 otherwise.
func httpCode(err error) int {
	switch status.Code(err) {
	case codes.OK:
		return 200
	case codes.Unavailable:
		return 503
	case codes.DeadlineExceeded:
		return 504
	case codes.Canceled:
		return 499
	}
	return 500
}

func (b *Backend) serveStats(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	snap := b.stats.snapshot()
	keys := make([]destKey, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y destKey) int {
		return cmp.Or(cmp.Compare(x.code, y.code), cmp.Compare(x.sourceWorkload, y.sourceWorkload), cmp.Compare(x.sourceNs, y.sourceNs),
			cmp.Compare(x.grpcStatus, y.grpcStatus))
	})
	bw := bufio.NewWriter(w)
	if len(keys) > 0 {
		bw.WriteString("# TYPE istio_requests_total counter\n")
		for _, k := range keys {
			promtext.WriteSample(bw, "istio_requests_total", b.destLabels(k), snap[k].Count)
		}
	}
	bw.WriteString("# TYPE istio_build gauge\nistio_build{component=\"proxy\",tag=\"meshlab\"} 1\n")
	if len(keys) > 0 {
		bw.WriteString("# TYPE istio_request_duration_milliseconds histogram\n")
		for _, k := range keys {
			promtext.WriteHistogram(bw, "istio_request_duration_milliseconds", b.destLabels(k), snap[k].Histogram)
		}
	}
	_ = bw.Flush()
}

// destLabels are Istio's standard labels of a request the backend's sidecar reports.
func (b *Backend) destLabels(k destKey) string {
	return requestSeries{reporter: "destination", sourceWorkload: k.sourceWorkload, sourceNs: k.sourceNs,
		dst: b.ID, code: k.code, grpcStatus: k.grpcStatus}.labels()
}
