package meshlab

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// attemptCounter is a client stats handler that counts every attempt of every call (a
// call Istio's retry policy retries has several) under the upstream cluster of the
// backend it went to, as Envoy's upstream_rq stats count every upstream request.
type attemptCounter struct{ c *Caller }

type attemptKey struct{}

// attempt is what the handler learns about one attempt as it goes.
type attempt struct {
	mu    sync.Mutex
	begin time.Time
	addr  string
	// answered: the backend's trailers arrived, so its gRPC status came over a completed
	// HTTP/2 exchange (HTTP 200 to Envoy), not from the proxy giving up.
	answered bool
}

func (h attemptCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, attemptKey{}, &attempt{})
}

func (h attemptCounter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	if a == nil || !s.IsClient() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch s := s.(type) {
	case *stats.Begin:
		a.begin = s.BeginTime
	case *stats.OutHeader:
		if s.RemoteAddr != nil {
			a.addr = s.RemoteAddr.String()
		}
	case *stats.InTrailer:
		a.answered = true
	case *stats.End:
		if a.addr == "" {
			h.c.unrouted.Add(1)
			return
		}
		k := callerKey{cluster: h.c.res.clusterOf(a.addr), code: httpCode(s.Error), grpcStatus: status.Code(s.Error)}
		if a.answered {
			// Envoy charges upstream_rq by the HTTP status: 200 whatever grpc-status says.
			k.code = 200
		}
		h.c.stats.record(k, s.EndTime.Sub(a.begin), s.EndTime)
	}
}

func (attemptCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (attemptCounter) HandleConn(context.Context, stats.ConnStats) {}
