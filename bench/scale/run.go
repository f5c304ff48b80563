package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/takeover"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// The gateway: its namespace and labels, what every Service's sluice.dev/stats-from selects.
const (
	gatewayNS = "gateway"
	statsFrom = "app=gateway,namespace=" + gatewayNS
)

func run(ctx context.Context, o options, out string) (err error) {
	if err := raiseNoFile(); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluice-bench-scale-")
	if err != nil {
		return err
	}
	keep := o.Keep // -keep, or a run with notes (a fault run that did not finish), keeps the logs
	defer func() {
		if err != nil || keep {
			fmt.Println("bench/scale: sluice's logs kept in", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	bin := o.Sluice
	if bin == "" {
		if bin, err = takeover.Build(ctx, dir); err != nil {
			return err
		}
	}
	for _, n := range o.Ns {
		p, err := measureN(ctx, o, n, bin, dir)
		if err != nil {
			return fmt.Errorf("measuring %d rollouts: %w", n, err)
		}
		r, err := load(out)
		if err != nil {
			return err
		}
		keep = keep || len(p.Notes) > 0
		r.merge(p)
		if err := write(out, r); err != nil {
			return err
		}
	}
	return nil
}

// bench is one N's set-up.
type bench struct {
	o       options
	n       int
	dir     string
	c       *cluster.Cluster
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	gw      *standin.Gateway
	mu      sync.Mutex
	fleets  []*standin.Fleet
	bad     *standin.Fleet
	badVS   *vswatch.Log
	ctrl    *takeover.Replica
	metrics string // the controller's /metrics URL
	pprof   string // its pprof base URL
	cancel  context.CancelFunc
}

func measureN(ctx context.Context, o options, n int, bin, dir string) (point, error) {
	p := point{N: n, Started: time.Now().UTC(), Callers: o.Callers, Rate: o.Rate, SluiceFlags: o.SluiceFlags}
	fmt.Printf("N=%d: starting the API server\n", n)
	c, err := cluster.Start(ctx)
	if err != nil {
		return p, err
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &bench{o: o, n: n, dir: dir, c: c, cancel: cancel}
	err = b.measure(ctx, bin, &p)
	return p, errors.Join(err, b.stop())
}

func (b *bench) measure(ctx context.Context, bin string, p *point) error {
	setup := time.Now()
	if err := b.objects(ctx); err != nil {
		return err
	}
	fmt.Printf("N=%d: %d Services with their pods in %s; starting sluice\n", b.n, b.n, time.Since(setup).Round(time.Second))
	if err := b.startController(bin); err != nil {
		return err
	}
	note, err := b.waitHeld(ctx, time.Minute+time.Duration(b.n)*300*time.Millisecond)
	if err != nil {
		return err
	}
	if note != "" {
		p.Notes = append(p.Notes, note)
	}
	p.SetupSeconds = time.Since(setup).Seconds()
	fmt.Printf("N=%d: rollouts at 5 %% after %s (%s); warming up\n", b.n, time.Since(setup).Round(time.Second), note)
	time.Sleep(10 * time.Second)
	if err := b.window(ctx, p); err != nil {
		return err
	}
	fmt.Printf("N=%d: window done (sluice %.2f cores, %.0f MiB; tick lag p99 %.0f ms); fault runs\n", b.n, p.SluiceCores, p.SluicePeakMiB, p.TickLagP99Ms)
	if ts, err := b.trafficShift(ctx, 0); err != nil || !held(ts) {
		p.Notes = append(p.Notes, "no fault runs: the bad Service's rollout was not at 5 % after the window")
		return nil
	}
	ms, notes := b.faults(ctx, b.o.Faults)
	p.FaultToZeroMs, p.Notes = ms, append(p.Notes, notes...)
	return nil
}

// objects creates the default policy, the gateway and the Services with their stand-ins.
func (b *bench) objects(ctx context.Context) error {
	var err error
	if b.kube, err = kubernetes.NewForConfig(b.c.Config); err != nil {
		return err
	}
	if b.dyn, err = dynamic.NewForConfig(b.c.Config); err != nil {
		return err
	}
	if err := b.defaultPolicy(ctx); err != nil {
		return err
	}
	b.gw, err = standin.StartGateway(ctx, standin.GatewayConfig{Client: b.kube, Namespace: gatewayNS,
		Labels: map[string]string{"app": "gateway", "istio": "ingressgateway"}, Pods: b.o.Callers, IPPrefix: "127.9.0."})
	if err != nil {
		return err
	}
	return b.services(ctx)
}

// defaultPolicy creates the ShiftPolicy "default" from manifests/policies.
func (b *bench) defaultPolicy(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), "manifests", "policies", "default-policy.yaml"))
	if err != nil {
		return err
	}
	pol := &sluicev1alpha1.ShiftPolicy{}
	if err := yaml.UnmarshalStrict(data, pol); err != nil {
		return fmt.Errorf("decoding the default policy: %w", err)
	}
	return b.c.Client.Create(ctx, pol)
}

// services creates the N Services, eight at a time.
func (b *bench) services(ctx context.Context) error {
	work := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				if err := b.service(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range b.n {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	return errors.Join(err, <-errs)
}

// freePort is a loopback port nothing listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (b *bench) startController(bin string) error {
	kc := filepath.Join(b.dir, fmt.Sprintf("kubeconfig-%d", b.n))
	if err := b.c.UserKubeconfig(kc, "sluice", "system:masters"); err != nil {
		return err
	}
	maddr, err := freePort()
	if err != nil {
		return err
	}
	paddr, err := freePort()
	if err != nil {
		return err
	}
	b.metrics, b.pprof = "http://"+maddr+"/metrics", "http://"+paddr
	args := append([]string{"--metrics-bind-address=" + maddr, "--pprof-bind-address=" + paddr, "--health-probe-bind-address=0", "--log-format=json"}, b.o.SluiceFlags...)
	b.ctrl, err = takeover.StartReplica(bin, "sluice", kc, filepath.Join(b.dir, fmt.Sprintf("sluice-%d.log", b.n)), args...)
	return err
}

// stop stops the controller, the stand-ins and the API server.
func (b *bench) stop() error {
	if b.ctrl != nil {
		b.ctrl.Stop()
	}
	b.mu.Lock()
	fleets := b.fleets
	b.mu.Unlock()
	for _, f := range fleets {
		f.Stop()
	}
	if b.gw != nil {
		b.gw.Stop()
	}
	b.cancel()
	return b.c.Stop()
}
