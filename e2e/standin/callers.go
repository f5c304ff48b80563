package standin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// callerSide is the fleet's caller ("gateway") stand-ins: every generated request enters
// through one of them, round-robin, and is counted in its outbound|PORT|SUBSET|HOST
// cluster stats. Fields other than trimmed are guarded by Fleet.mu.
type callerSide struct {
	port        int32 // the Service port naming the outbound clusters
	pods        []*callerPod
	next        int
	unreachable map[string]bool
	totals      map[string]*[2]uint64 // subset → requests, 5xx counted by the caller pods
	trimmed     atomic.Bool
}

type callerPod struct {
	name   string
	stats  *callerStats
	server *statsServer
}

// AddCallers creates n caller pods (say, the ingress gateway) in namespace, creating the
// namespace if it is missing, with the given labels, status Running and Ready, and podIP
// from the fleet's IPPrefix. Each serves on podIP:15090 the caller-side cluster stats of
// an Istio proxy for the fleet's Service (cluster outbound|PORT|SUBSET|HOST, PORT being
// the Service's first port, so the Service must exist). From then on every generated
// request is counted by one of the callers, round-robin. The callers expose neither
// istio_requests_total nor any other istio_* series but istio_build.
func (f *Fleet) AddCallers(ctx context.Context, namespace string, labels map[string]string, n int) ([]*corev1.Pod, error) {
	port, err := f.servicePort(ctx)
	if err != nil {
		return nil, fmt.Errorf("adding caller pods in %s: %w", namespace, err)
	}
	if err := f.ensureNamespace(ctx, namespace); err != nil {
		return nil, fmt.Errorf("adding caller pods in %s: %w", namespace, err)
	}
	out := make([]*corev1.Pod, 0, n)
	for range n {
		p, err := f.addCaller(ctx, namespace, labels, port)
		if err != nil {
			return out, fmt.Errorf("adding caller pods in %s: %w", namespace, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (f *Fleet) servicePort(ctx context.Context) (int32, error) {
	svc, err := f.cfg.Client.CoreV1().Services(f.cfg.Namespace).Get(ctx, f.cfg.Service, metav1.GetOptions{})
	if err != nil {
		return 0, fmt.Errorf("getting Service %s/%s for its port: %w", f.cfg.Namespace, f.cfg.Service, err)
	}
	if len(svc.Spec.Ports) == 0 {
		return 0, fmt.Errorf("getting the port of Service %s/%s: it has none", f.cfg.Namespace, f.cfg.Service)
	}
	return svc.Spec.Ports[0].Port, nil
}

func (f *Fleet) ensureNamespace(ctx context.Context, name string) error {
	nss := f.cfg.Client.CoreV1().Namespaces()
	if _, err := nss.Get(ctx, name, metav1.GetOptions{}); err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	_, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

func (f *Fleet) addCaller(ctx context.Context, namespace string, labels map[string]string, port int32) (*corev1.Pod, error) {
	n, ip, err := f.reserveIP()
	if err != nil {
		return nil, err
	}
	stats := &callerStats{host: f.cfg.Service + "." + f.cfg.Namespace + ".svc.cluster.local", trimmed: &f.callers.trimmed, clusters: map[string]*clusterStats{}}
	srv, err := serveCallerStats(ip, stats)
	if err != nil {
		return nil, err
	}
	name := labels["app"]
	if name == "" {
		name = "caller"
	}
	obj := podObject(namespace, fmt.Sprintf("%s-standin-%d", name, n), labels)
	obj.Spec.Containers = obj.Spec.Containers[1:] // a gateway is its proxy alone
	pod, err := f.createReadyPod(ctx, obj, ip.String())
	if err != nil {
		srv.close()
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		srv.close()
		return nil, errors.New("fleet stopped while adding a caller pod")
	}
	f.callers.port = port
	f.callers.pods = append(f.callers.pods, &callerPod{name: pod.Name, stats: stats, server: srv})
	return pod, nil
}

// SetUnreachable makes the subset's pods unreachable from the callers (on) or reachable
// again: requests routed to it fail at the caller with 503 (response flag UF, upstream
// connect failure) and never reach a pod of the subset, whose counters do not move.
func (f *Fleet) SetUnreachable(subset string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.callers.unreachable == nil {
		f.callers.unreachable = map[string]bool{}
	}
	f.callers.unreachable[subset] = on
}

// SetCallerStatsTrimmed makes the callers expose no envoy_cluster_* series for the
// Service's clusters (on), as Istio's default stats inclusion does, or expose them again.
// The counters keep counting meanwhile; only what is served changes.
func (f *Fleet) SetCallerStatsTrimmed(on bool) { f.callers.trimmed.Store(on) }

// CallerCounts returns the requests to subset and the 5xx among them that the caller
// pods have counted so far (those generated while there were no caller pods are not).
func (f *Fleet) CallerCounts(subset string) (requests, errors uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.callers.totals[subset]; t != nil {
		return t[0], t[1]
	}
	return 0, 0
}

// CountAtCallers records n requests to subset answered with code at the callers (spread
// over them, 1 ms each) at this instant, without traffic reaching any pod: a test puts an
// exact number of caller-side results at an exact moment with it.
func (f *Fleet) CountAtCallers(subset string, code, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.callers.count(subset, code, 1, true, false)
	}
}

// forward passes r through the next caller. It reports false when the request failed at
// the caller (its subset is unreachable) and so never reached r.Pod. Call with f.mu held.
func (c *callerSide) forward(r Request) bool {
	if c.unreachable[r.Subset] {
		c.count(r.Subset, 503, math.NaN(), true, true)
		return false
	}
	c.count(r.Subset, r.Code, r.LatencyMs, true, false)
	return true
}

// noHealthyUpstream counts n requests to a subset without pods: 503 UH at the caller,
// never sent upstream. Call with f.mu held.
func (c *callerSide) noHealthyUpstream(subset string, n uint64) {
	for range n {
		c.count(subset, 503, math.NaN(), false, false)
	}
}

// count records one request at the next caller; a NaN latency records no upstream time.
func (c *callerSide) count(subset string, code int, latencyMs float64, sent, connectFail bool) {
	if len(c.pods) == 0 {
		return
	}
	p := c.pods[c.next%len(c.pods)]
	c.next = (c.next + 1) % len(c.pods)
	p.stats.record(fmt.Sprintf("outbound|%d|%s|%s", c.port, subset, p.stats.host), code, latencyMs, sent, connectFail)
	if c.totals == nil {
		c.totals = map[string]*[2]uint64{}
	}
	t := c.totals[subset]
	if t == nil {
		t = new([2]uint64)
		c.totals[subset] = t
	}
	t[0]++
	if code >= 500 {
		t[1]++
	}
}

// closeCallers stops the callers' stats servers. Call without f.mu held.
func closeCallers(pods []*callerPod) {
	for _, p := range pods {
		if p.server != nil { // nil: a shared gateway's pod, closed by the Gateway
			p.server.close()
		}
	}
}
