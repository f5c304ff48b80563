package meshlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// xDS resource type URLs.
const (
	typeListener = "type.googleapis.com/envoy.config.listener.v3.Listener"
	typeRoute    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
	typeCluster  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	typeEndpoint = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
)

// appliedResource is one xDS resource the client accepted (ACKed).
type appliedResource struct {
	version  string
	resource *anypb.Any
	at       time.Time // when the client's ACK passed
}

// pendingResponse is a response sent to the client and not yet ACKed or NACKed.
type pendingResponse struct {
	typeURL, version string
	resources        []*anypb.Any
}

// xdsRecorder is an ADS proxy between one gRPC client and istiod. It forwards every
// message unchanged and keeps the resources of each response once the client ACKs it,
// so it knows exactly what the client applied and when.
type xdsRecorder struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	upstream *grpc.ClientConn
	gs       *grpc.Server
	addr     string

	mu      sync.Mutex
	pending map[string]pendingResponse            // by nonce
	applied map[string]map[string]appliedResource // type URL → name → resource
	// received is like applied but updated on every response, ACKed or not: grpc-go
	// may use endpoints before its ACK of them reaches the recorder.
	received map[string]map[string]appliedResource
	nacks    int
	changed  chan struct{} // closed and replaced whenever applied changes
}

// startXDSRecorder listens on ip:0 and proxies ADS streams to istiod at upstream.
func startXDSRecorder(ip, upstream string) (*xdsRecorder, error) {
	cc, err := grpc.NewClient(upstream, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("connecting to istiod at %s: %w", upstream, err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		cc.Close()
		return nil, fmt.Errorf("starting the xDS recorder: %w", err)
	}
	r := &xdsRecorder{
		upstream: cc, gs: grpc.NewServer(), addr: l.Addr().String(),
		pending: map[string]pendingResponse{}, applied: map[string]map[string]appliedResource{},
		received: map[string]map[string]appliedResource{}, changed: make(chan struct{}),
	}
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(r.gs, r)
	go func() { _ = r.gs.Serve(l) }()
	return r, nil
}

func (r *xdsRecorder) stop() {
	r.gs.Stop()
	r.upstream.Close()
}

// StreamAggregatedResources pumps one client stream to istiod and back.
func (r *xdsRecorder) StreamAggregatedResources(down discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesServer) error {
	ctx, cancel := context.WithCancel(down.Context())
	defer cancel()
	up, err := discoveryv3.NewAggregatedDiscoveryServiceClient(r.upstream).StreamAggregatedResources(ctx)
	if err != nil {
		return fmt.Errorf("opening ADS stream to istiod: %w", err)
	}
	errc := make(chan error, 2)
	go func() {
		for {
			req, err := down.Recv()
			if err != nil {
				errc <- err
				return
			}
			r.sawRequest(req)
			if err := up.Send(req); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() {
		for {
			resp, err := up.Recv()
			if err != nil {
				errc <- err
				return
			}
			r.sawResponse(resp)
			if err := down.Send(resp); err != nil {
				errc <- err
				return
			}
		}
	}()
	err = <-errc
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (r *xdsRecorder) sawResponse(resp *discoveryv3.DiscoveryResponse) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := pendingResponse{typeURL: resp.GetTypeUrl(), version: resp.GetVersionInfo(), resources: resp.GetResources()}
	r.pending[resp.GetNonce()] = p
	r.received[p.typeURL] = merged(r.received[p.typeURL], p, time.Now())
	r.notifyLocked()
}

// sawRequest applies the response a request ACKs; a NACK drops it.
func (r *xdsRecorder) sawRequest(req *discoveryv3.DiscoveryRequest) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pending[req.GetResponseNonce()]
	if !ok {
		return
	}
	// This reply answers the newest response of its type; older ones never will be.
	maps.DeleteFunc(r.pending, func(_ string, q pendingResponse) bool { return q.typeURL == p.typeURL })
	if req.GetErrorDetail() != nil {
		r.nacks++
		return
	}
	r.applied[p.typeURL] = merged(r.applied[p.typeURL], p, now)
	r.notifyLocked()
}

func (r *xdsRecorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// merged returns cur updated by response p: replaced for LDS and CDS, whose responses
// carry the full state, and amended for RDS and EDS, whose responses carry what changed.
func merged(cur map[string]appliedResource, p pendingResponse, at time.Time) map[string]appliedResource {
	if p.typeURL == typeListener || p.typeURL == typeCluster || cur == nil {
		cur = map[string]appliedResource{}
	} else {
		cur = maps.Clone(cur)
	}
	for _, a := range p.resources {
		if name := resourceName(a); name != "" {
			cur[name] = appliedResource{version: p.version, resource: a, at: at}
		}
	}
	return cur
}

// snapshot returns the applied resources by type (maps not to be modified) and a channel
// closed at the next change.
func (r *xdsRecorder) snapshot() (map[string]map[string]appliedResource, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.applied), r.changed
}

// receivedSnapshot is snapshot for every resource received, ACKed or not.
func (r *xdsRecorder) receivedSnapshot() (map[string]map[string]appliedResource, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.received), r.changed
}

// resourceName is the name of an xDS resource, or "" when it does not decode.
func resourceName(a *anypb.Any) string {
	var m interface{ GetName() string }
	switch a.GetTypeUrl() {
	case typeListener:
		m = &listenerv3.Listener{}
	case typeRoute:
		m = &routev3.RouteConfiguration{}
	case typeCluster:
		m = &clusterv3.Cluster{}
	case typeEndpoint:
		var cla endpointv3.ClusterLoadAssignment
		if err := a.UnmarshalTo(&cla); err != nil {
			return ""
		}
		return cla.GetClusterName()
	default:
		return ""
	}
	if err := a.UnmarshalTo(m.(proto.Message)); err != nil {
		return ""
	}
	return m.GetName()
}
