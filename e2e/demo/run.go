package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

type options struct {
	stepDuration time.Duration
	rate         float64
	badErrorRate float64
	logFile      string
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("▶ starting etcd and kube-apiserver (real binaries from e2e/k8sbins), installing CRDs …")
	t0 := time.Now()
	c, err := cluster.Start(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Stop() }()
	say("  API server up in %s at %s", time.Since(t0).Round(time.Millisecond), c.Config.Host)

	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	d := &demo{c: c, out: out, ns: "demo", svc: "reviews", dyn: dyn}
	if err := d.setup(ctx); err != nil {
		return err
	}
	d.fleet, err = standin.Start(ctx, standin.Config{
		Client: kube, Dynamic: dyn, Namespace: d.ns, Service: d.svc, VirtualService: d.svc,
		Rate: o.rate, IPPrefix: "127.0.77.", Seed: 1,
	})
	if err != nil {
		return err
	}
	defer d.fleet.Stop()
	for v, n := range map[string]int{"v1": 2, "v2": 2, "v3": 2} {
		if _, err := d.fleet.AddPods(ctx, v, map[string]string{"app": d.svc, "version": v}, n); err != nil {
			return err
		}
	}
	healthy := standin.SubsetBehaviour{ErrorRate: 0.001, LatencyP50: 15 * time.Millisecond, LatencyP99: 60 * time.Millisecond}
	d.fleet.SetBehaviour("v1", healthy)
	d.fleet.SetBehaviour("v2", healthy)
	d.fleet.SetBehaviour("v3", standin.SubsetBehaviour{ErrorRate: o.badErrorRate, LatencyP50: 15 * time.Millisecond, LatencyP99: 60 * time.Millisecond})
	say("  namespace %q: Service %s, DestinationRule (v1, v2, v3), VirtualService → v1, Deployments reviews-v1/-v2 (never run: no kubelet)", d.ns, d.svc)
	say("  stand-in pods on 127.0.77.x:15090 serve Istio stats; %g req/s follow the VirtualService weights", o.rate)

	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), "sluice-demo-controller.log")
	}
	_ = os.Remove(logPath)
	ctrl, err := inproc.Start(ctx, c.Config, manager.Options{Workers: 2}, logPath)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, ctrl.Stop()) }()
	say("▶ sluice controller running (log: %s)", logPath)
	deps, err := d.deploymentVersions(ctx)
	if err != nil {
		return err
	}

	say("\n▶ release v2 (healthy): kubectl annotate svc reviews sluice.dev/canary=v2")
	if err := d.rollout(ctx, "v2", o.stepDuration); err != nil {
		return err
	}
	say("\n▶ release v3 (%.0f%% errors): kubectl annotate svc reviews sluice.dev/canary=v3", o.badErrorRate*100)
	if err := d.rollout(ctx, "v3", o.stepDuration); err != nil {
		return err
	}
	after, err := d.deploymentVersions(ctx)
	if err != nil {
		return err
	}
	untouched := after["reviews-v1"] == deps["reviews-v1"] && after["reviews-v2"] == deps["reviews-v2"]
	say("\n▶ Deployments untouched by sluice (resourceVersion unchanged): %v", untouched)
	if !untouched {
		return fmt.Errorf("a Deployment was modified")
	}
	return nil
}
