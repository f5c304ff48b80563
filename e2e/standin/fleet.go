// Package standin simulates Istio-injected pods and their traffic for tests and the demo.
//
// A Fleet creates Pod objects through a real API server (status Running and Ready,
// podIP on 127.0.0.0/8, nothing runs them), serves each pod's sidecar stats at
// podIP:15090/stats/prometheus in Istio's format, and generates traffic whose split
// follows the weights the watched VirtualService carries right now.
//
// Clients: Config.Client (a kubernetes.Interface) creates, updates and deletes Pods;
// Config.Dynamic (a dynamic.Interface) lists and watches the VirtualService as
// networking.istio.io/v1.
package standin

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// sliceEvery is how often the generator emits a slice of requests by default.
const sliceEvery = 10 * time.Millisecond

// maxSlice caps one slice's duration so a stalled process does not emit a burst.
const maxSlice = 200 * time.Millisecond

// Config says which Service the fleet stands in for and how much traffic it sends.
type Config struct {
	// Client creates the Pod objects and sets their status.
	Client kubernetes.Interface
	// Dynamic watches the VirtualService.
	Dynamic dynamic.Interface
	// Namespace and Service name the Service; its host is Service.Namespace.svc.cluster.local.
	Namespace, Service string
	// VirtualService is the name (in Namespace) of the VirtualService to follow.
	VirtualService string
	// Rate is the total request rate in requests per second.
	Rate float64
	// IPPrefix such as "127.0.10." gives pod N (from 1) the IP IPPrefix+N. Fleets
	// running at the same time need distinct prefixes.
	IPPrefix string
	// Seed makes the generated traffic reproducible.
	Seed uint64
	// SliceEvery is how often the generator emits a slice of traffic (default 10ms).
	// Many fleets in one process (bench/scale) use longer slices to keep its CPU low.
	SliceEvery time.Duration
	// SchedulerName, when set, is the pods' spec.schedulerName: on a cluster with a real
	// kube-scheduler and kubelet (e2e/node), a name no scheduler serves keeps the pods
	// unscheduled, so no kubelet tries to run them or overwrites their status.
	SchedulerName string
}

// Fleet is a running set of stand-in pods and their traffic generator.
type Fleet struct {
	cfg Config

	mu        sync.Mutex
	stopped   bool
	rate      float64
	weights   map[string]int32
	behaviour map[string]SubsetBehaviour
	pods      map[string]*standinPod // by pod name
	order     map[string][]string    // subset → pod names in creation order
	nextN     int
	served    map[string]*[2]uint64 // subset → requests, errors
	dropped   map[string]uint64
	watchErrs int
	callers   callerSide // the caller stand-ins (callers.go)

	cancel     context.CancelFunc
	stopAfter  func() bool
	background sync.WaitGroup // generator and watch
	stopOnce   sync.Once
}

// Start starts watching cfg.VirtualService and generating traffic; it returns once the
// VirtualService (or its absence) has been seen. The fleet runs until Stop or until
// ctx is cancelled, whichever comes first. It starts without pods: add them with AddPods.
func Start(ctx context.Context, cfg Config) (*Fleet, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("starting stand-in fleet: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Fleet{
		cfg:       cfg,
		rate:      cfg.Rate,
		weights:   map[string]int32{},
		behaviour: map[string]SubsetBehaviour{},
		pods:      map[string]*standinPod{},
		order:     map[string][]string{},
		nextN:     1,
		served:    map[string]*[2]uint64{},
		dropped:   map[string]uint64{},
		cancel:    cancel,
	}
	synced, err := f.watchVirtualService(runCtx)
	if err != nil {
		f.Stop()
		return nil, fmt.Errorf("starting stand-in fleet: %w", err)
	}
	if err := waitSynced(ctx, synced); err != nil {
		f.Stop()
		return nil, fmt.Errorf("starting stand-in fleet: waiting for VirtualService %s/%s: %w", cfg.Namespace, cfg.VirtualService, err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	f.background.Go(func() { f.generate(runCtx, rng) })
	stopAfter := context.AfterFunc(ctx, f.Stop)
	f.mu.Lock()
	f.stopAfter = stopAfter
	f.mu.Unlock()
	return f, nil
}

func (c Config) validate() error {
	switch {
	case c.Client == nil || c.Dynamic == nil:
		return errors.New("Config.Client and Config.Dynamic are required")
	case c.Namespace == "" || c.Service == "" || c.VirtualService == "":
		return errors.New("Config.Namespace, Service and VirtualService are required")
	case c.Rate < 0:
		return fmt.Errorf("Config.Rate %v is negative", c.Rate)
	}
	if _, err := podIP(c.IPPrefix, 1); err != nil {
		return err
	}
	return nil
}

// podIP returns prefix+n, which must be an IPv4 address.
func podIP(prefix string, n int) (netip.Addr, error) {
	a, err := netip.ParseAddr(fmt.Sprintf("%s%d", prefix, n))
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("IPPrefix %q+%d is not an IPv4 address (want e.g. \"127.0.10.\")", prefix, n)
	}
	return a, nil
}

func waitSynced(ctx context.Context, synced func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !synced() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// generate emits a slice of traffic every sliceEvery until ctx is done.
func (f *Fleet) generate(ctx context.Context, rng *rand.Rand) {
	router := NewRouter()
	every := f.cfg.SliceEvery
	if every <= 0 {
		every = sliceEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f.tick(router, rng, min(now.Sub(last), max(maxSlice, 2*every)))
			last = now
		}
	}
}

// tick generates one slice and records it in the pods' and the callers' stats. The lock
// is held throughout so a pod deleted meanwhile never receives requests.
func (f *Fleet) tick(router *Router, rng *rand.Rand, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := router.Slice(rng, SliceInput{
		Weights:   f.weights,
		Pods:      f.order,
		Behaviour: f.behaviour,
		Rate:      f.rate,
		Duration:  d,
	})
	f.deliver(res.Requests)
	for subset, n := range res.Dropped {
		f.dropped[subset] += n
		f.callers.noHealthyUpstream(subset, n)
	}
}

// deliver records requests in the callers' and the pods' stats. Call with f.mu held.
func (f *Fleet) deliver(reqs []Request) {
	for _, r := range reqs {
		if !f.callers.forward(r) {
			continue // failed at the caller, never reached r.Pod
		}
		f.pods[r.Pod].stats.record(r.Code, r.LatencyMs)
		s := f.served[r.Subset]
		if s == nil {
			s = new([2]uint64)
			f.served[r.Subset] = s
		}
		s[0]++
		if r.Code >= 500 {
			s[1]++
		}
	}
}

// Send delivers n requests answered with code (5 ms each) to subset's pods, round-robin,
// at this instant, whatever the weights and the rate: a test puts an exact number of
// results at an exact moment with it. It returns how many were delivered: 0 when the
// subset has no pods.
func (f *Fleet) Send(subset string, code, n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	pods := f.order[subset]
	if len(pods) == 0 || n <= 0 {
		return 0
	}
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Subset: subset, Pod: pods[i%len(pods)], Code: code, LatencyMs: 5}
	}
	f.deliver(reqs)
	return n
}

// SetBehaviour sets how the pods of subset answer from now on.
func (f *Fleet) SetBehaviour(subset string, b SubsetBehaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behaviour[subset] = b
}

// SetRate sets the total request rate in requests per second; negative means 0.
func (f *Fleet) SetRate(r float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rate = max(r, 0)
}

// Weights returns the subset weights the generator follows now (a copy).
func (f *Fleet) Weights() map[string]int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.weights)
}

// Served returns the requests and the errors (503) generated for subset's pods so far.
func (f *Fleet) Served(subset string) (requests, errors uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.served[subset]; s != nil {
		return s[0], s[1]
	}
	return 0, 0
}

// Dropped returns the requests routed to subset while it had no pods.
func (f *Fleet) Dropped(subset string) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dropped[subset]
}

// Stop stops the generator, the watch and every pod's stats server, and waits for
// them all. Pod objects stay in the API server. Stop is idempotent.
func (f *Fleet) Stop() {
	f.stopOnce.Do(func() {
		f.mu.Lock()
		stopAfter := f.stopAfter
		f.mu.Unlock()
		if stopAfter != nil {
			stopAfter()
		}
		f.cancel()
		f.background.Wait()
		f.mu.Lock()
		f.stopped = true
		pods := make([]*standinPod, 0, len(f.pods))
		for _, p := range f.pods {
			pods = append(pods, p)
		}
		f.pods = map[string]*standinPod{}
		f.order = map[string][]string{}
		callers := f.callers.pods
		f.callers.pods = nil
		f.mu.Unlock()
		for _, p := range pods {
			p.server.close()
		}
		closeCallers(callers)
	})
}
