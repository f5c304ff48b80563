package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/takeover"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

func run(ctx context.Context, runs int, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sluice-bench-takeover-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := takeover.NewEnv(ctx, dir)
	if err != nil {
		return err
	}
	res := results{Runs: runs, Started: time.Now().UTC()}
	for i, c := range []config{{Name: "sluice defaults (1s / 800ms / 200ms)"}, {Name: "controller-runtime defaults (15s / 10s / 2s)", Flags: takeover.CRDefaults}} {
		b := &bench{env: env, cfg: c, ns: fmt.Sprintf("bench-takeover-%d", i), ipNet: 71 + i}
		if err := b.measure(ctx, runs); err != nil {
			return errors.Join(fmt.Errorf("%s: %w", c.Name, err), b.stop(), env.Stop())
		}
		if err := b.stop(); err != nil {
			return errors.Join(err, env.Stop())
		}
		res.Configs = append(res.Configs, b.cfg)
	}
	if err := env.Stop(); err != nil {
		return err
	}
	res.Took = time.Since(res.Started).Round(time.Second).String()
	return write(out, res)
}

// bench is one configuration's run: two replicas, one rollout.
type bench struct {
	env      *takeover.Env
	cfg      config
	ns       string
	ipNet    int
	rollout  *takeover.Rollout
	replicas []*takeover.Replica
	started  int // replicas started so far, to name the next
	tokens   int
}

func (b *bench) measure(ctx context.Context, runs int) error {
	var err error
	if b.rollout, err = b.env.NewRollout(ctx, b.ns, b.ipNet, 200); err != nil {
		return err
	}
	for range 2 {
		if err := b.startReplica(); err != nil {
			return err
		}
	}
	for i := range runs {
		if err := b.once(ctx); err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		n := len(b.cfg.TakeoverMs)
		fmt.Printf("%s run %d: takeover %.0f ms, fault → 0 %.0f ms (first window: %.0f canary requests)\n",
			b.cfg.Name, i+1, b.cfg.TakeoverMs[n-1], b.cfg.FaultToZeroMs[n-1], b.cfg.WarmCanaryRequests[n-1])
	}
	return b.leaseCost(ctx)
}

func (b *bench) startReplica() error {
	b.started++
	name := fmt.Sprintf("%s-r%d", b.ns, b.started)
	kc, err := b.env.Kubeconfig(name, "")
	if err != nil {
		return err
	}
	r, err := takeover.StartReplica(b.env.Bin, name, kc, filepath.Join(b.env.Dir, name+".log"), takeover.ReplicaArgs(b.ns, b.cfg.Flags...)...)
	if err != nil {
		return err
	}
	b.replicas = append(b.replicas, r)
	return nil
}

// live are the replicas still running.
func (b *bench) live() []*takeover.Replica {
	var out []*takeover.Replica
	for _, r := range b.replicas {
		select {
		case <-r.Done():
		default:
			out = append(out, r)
		}
	}
	return out
}

// once starts (or retries) the rollout, holds it at 5 % with a healthy canary, then
// kills the leader as the canary starts failing every call, and measures.
func (b *bench) once(ctx context.Context) error {
	b.rollout.Fleet.SetBehaviour(takeover.Canary, standin.SubsetBehaviour{})
	b.tokens++
	token := fmt.Sprintf("%s@%d", takeover.Canary, b.tokens)
	if err := b.rollout.Annotate(ctx, map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": takeover.Canary,
		"sluice.dev/steps": "5,100", "sluice.dev/step-duration": "10m", "sluice.dev/min-requests": "20", "sluice.dev/retry": token}); err != nil {
		return err
	}
	if _, err := b.rollout.Wait(ctx, 60*time.Second, "at 5 %", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5 && (b.tokens == 1 || ts.Status.LastRetry == token)
	}); err != nil {
		return err
	}
	live := b.live()
	leader, err := b.env.Leader(ctx, b.ns, 60*time.Second, live...)
	if err != nil {
		return err
	}
	other := live[0]
	if other == leader {
		other = live[1]
	}
	time.Sleep(2 * time.Second) // the standby's windows fill
	killed, err := leader.Signal(syscall.SIGKILL)
	b.rollout.Fleet.SetBehaviour(takeover.Canary, standin.SubsetBehaviour{ErrorRate: 1})
	if err != nil {
		return err
	}
	tick, entry, err := other.FirstTick(ctx, 60*time.Second)
	if err != nil {
		return err
	}
	zeroAt, err := b.zeroAfter(killed, 60*time.Second)
	if err != nil {
		return err
	}
	if _, err := b.rollout.Wait(ctx, 30*time.Second, "RolledBack", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseRolledBack
	}); err != nil {
		return err
	}
	warm, _ := entry["canaryWindowRequests"].(float64)
	b.cfg.TakeoverMs = append(b.cfg.TakeoverMs, ms(tick.Sub(killed)))
	b.cfg.FaultToZeroMs = append(b.cfg.FaultToZeroMs, ms(zeroAt.Sub(killed)))
	b.cfg.WarmCanaryRequests = append(b.cfg.WarmCanaryRequests, warm)
	<-leader.Done()
	return b.startReplica()
}

func (b *bench) zeroAfter(t time.Time, timeout time.Duration) (time.Time, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if at, ok := b.rollout.VS.FirstAfter(t, takeover.Canary, 0); ok {
			return at, nil
		}
	}
	return time.Time{}, fmt.Errorf("no canary weight 0 within %s of the kill", timeout)
}

// leaseCost counts, in the audit log, the Lease requests of the leader and of a
// follower over a quiet stretch: 20 s, or ten retry periods with longer timings.
func (b *bench) leaseCost(ctx context.Context) error {
	live := b.live()
	leader, err := b.env.Leader(ctx, b.ns, 60*time.Second, live...)
	if err != nil {
		return err
	}
	window := 20 * time.Second
	if len(b.cfg.Flags) > 0 {
		window = 30 * time.Second
	}
	from := time.Now()
	time.Sleep(window)
	to := time.Now()
	events, err := takeover.ReadAudit(b.env.AuditLog)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, e := range events {
		if e.Resource() == "leases" && e.ObjectRef.Namespace == b.ns && !e.RequestReceived.Before(from) && e.RequestReceived.Before(to) {
			counts[e.User.Username]++
		}
	}
	for _, r := range live {
		rps := float64(counts[r.Name]) / to.Sub(from).Seconds()
		if r == leader {
			b.cfg.LeaderLeaseRPS = rps
		} else {
			b.cfg.FollowerLeaseRPS = rps
		}
	}
	b.cfg.LeaseWindow = to.Sub(from).Round(time.Second).String()
	return nil
}

func (b *bench) stop() error {
	for _, r := range b.replicas {
		r.Stop()
	}
	if b.rollout != nil {
		b.rollout.Stop()
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
