package standin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// GatewayConfig describes caller stand-ins shared by many fleets.
type GatewayConfig struct {
	// Client creates the Pod objects (and the namespace when it is missing).
	Client kubernetes.Interface
	// Namespace and Labels are the pods' (what sluice.dev/stats-from selects).
	Namespace string
	Labels    map[string]string
	// Pods is how many caller pods there are; IPPrefix+N is pod N's address (from 1).
	Pods     int
	IPPrefix string
	// CacheFor, when positive, serves a rendered page again to scrapes within this long
	// of its rendering (its counters are then that old). 0 renders every scrape's page
	// anew, as Envoy does: a page older than the scrape would put counts from before a
	// reader's "fresh" read (a rollout's baseline) after it.
	CacheFor time.Duration
}

// Gateway is caller stand-ins shared by many fleets, as one ingress gateway calls many
// Services: each pod serves one page holding the outbound|PORT|SUBSET|HOST clusters of
// every fleet that joined it (Fleet.JoinGateway). It counts the pages it served.
type Gateway struct {
	pods   []*gatewayPod
	served atomic.Uint64
}

// gatewayPod is one shared caller: its object's name, its server and the callers'
// stats of every fleet that joined.
type gatewayPod struct {
	name     string
	server   *statsServer
	cacheFor time.Duration

	mu         sync.Mutex
	stats      []*callerStats
	page       []byte
	renderedAt time.Time
}

// StartGateway creates the gateway's pods (status Running and Ready, podIP from IPPrefix)
// and starts serving their pages, empty until fleets join.
func StartGateway(ctx context.Context, cfg GatewayConfig) (*Gateway, error) {
	if cfg.Client == nil || cfg.Namespace == "" || cfg.Pods <= 0 {
		return nil, errors.New("starting stand-in gateway: Client, Namespace and Pods > 0 are required")
	}
	_, err := cfg.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfg.Namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("starting stand-in gateway: creating namespace %s: %w", cfg.Namespace, err)
	}
	g := &Gateway{}
	for n := 1; n <= cfg.Pods; n++ {
		if err := g.addPod(ctx, cfg, n); err != nil {
			g.Stop()
			return nil, fmt.Errorf("starting stand-in gateway: %w", err)
		}
	}
	return g, nil
}

func (g *Gateway) addPod(ctx context.Context, cfg GatewayConfig, n int) error {
	ip, err := podIP(cfg.IPPrefix, n)
	if err != nil {
		return err
	}
	gp := &gatewayPod{cacheFor: cfg.CacheFor}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(StatsPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s for stand-in gateway stats: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+StatsPath, func(w http.ResponseWriter, _ *http.Request) {
		g.served.Add(1)
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = w.Write(gp.render(time.Now())) // a failed write means the scraper went away
	})
	gp.server = &statsServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(gp.server.done)
		_ = gp.server.srv.Serve(ln)
	}()
	g.pods = append(g.pods, gp)
	name := cfg.Labels["app"]
	if name == "" {
		name = "gateway"
	}
	obj := podObject(cfg.Namespace, fmt.Sprintf("%s-standin-%d", name, n), cfg.Labels)
	obj.Spec.Containers = obj.Spec.Containers[1:] // a gateway is its proxy alone
	pod, err := createReadyPod(ctx, cfg.Client, obj, ip.String())
	if err != nil {
		return err
	}
	gp.name = pod.Name
	return nil
}

// render returns the page, rendered again unless the last one is younger than cacheFor.
func (gp *gatewayPod) render(now time.Time) []byte {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	if gp.page != nil && now.Sub(gp.renderedAt) < gp.cacheFor {
		return gp.page
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(gp.page)+len(gp.page)/8))
	_ = writeCallerPage(buf, gp.stats...) // writing to a buffer does not fail
	gp.page, gp.renderedAt = buf.Bytes(), now
	return gp.page
}

func (gp *gatewayPod) join(s *callerStats) {
	gp.mu.Lock()
	defer gp.mu.Unlock()
	gp.stats = append(gp.stats, s)
	gp.page = nil
}

// Served is how many pages the gateway's pods have served.
func (g *Gateway) Served() uint64 { return g.served.Load() }

// Stop stops every pod's server; the Pod objects stay.
func (g *Gateway) Stop() {
	for _, gp := range g.pods {
		gp.server.close()
	}
}

// JoinGateway makes g's pods the fleet's callers: from now on every generated request
// enters through one of them, round-robin, and is counted in its page under the fleet's
// host, beside the other fleets' clusters.
func (f *Fleet) JoinGateway(ctx context.Context, g *Gateway) error {
	port, err := f.servicePort(ctx)
	if err != nil {
		return fmt.Errorf("joining the stand-in gateway: %w", err)
	}
	host := f.cfg.Service + "." + f.cfg.Namespace + ".svc.cluster.local"
	f.mu.Lock()
	defer f.mu.Unlock()
	f.callers.port = port
	for _, gp := range g.pods {
		stats := &callerStats{host: host, trimmed: &f.callers.trimmed, clusters: map[string]*clusterStats{}}
		gp.join(stats)
		f.callers.pods = append(f.callers.pods, &callerPod{name: gp.name, stats: stats})
	}
	return nil
}
