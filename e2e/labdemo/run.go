package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/e2e/meshlab"
	"github.com/sluicedev/sluice/e2e/vswatch"
)

type options struct {
	stepDuration time.Duration
	rate         float64
	badErrorRate float64
	faultAt      int
	debounce     time.Duration
	logFile      string
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.faultAt != 5 && o.faultAt != 25 && o.faultAt != 50 {
		return fmt.Errorf("-fault-at %d: expected 5, 25 or 50", o.faultAt)
	}
	log.SetLogger(logr.Discard())
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("▶ starting etcd, kube-apiserver and istiod (real binaries, built by e2e/k8sbins and e2e/istiodbin) …")
	t0 := time.Now()
	lab, err := meshlab.Start(ctx, meshlab.Config{
		Subsets: []meshlab.Subset{{Name: "v1", Pods: 2}, {Name: "v2", Pods: 2}, {Name: "v3", Pods: 2}},
		Callers: 1, Rate: o.rate,
		Istiod: meshlab.IstiodOptions{BinDir: os.Getenv("SLUICE_ISTIOD_BIN"), Debounce: o.debounce},
	})
	if err != nil {
		return err
	}
	defer lab.Stop()
	if err := lab.RouteTo(ctx, "v1"); err != nil {
		return err
	}
	if _, err := lab.Callers[0].WaitForWeights(ctx, lab.Host(), map[string]uint32{"v1": 100}); err != nil {
		return err
	}
	say("  lab up in %s (istiod ready %s after exec; log %s)", time.Since(t0).Round(time.Millisecond), lab.Istiod.Started.Round(time.Millisecond), lab.Istiod.LogPath)
	say("  Service %s: DestinationRule subsets v1, v2, v3 (2 gRPC pods each on 127.0.200.10-15), VirtualService → v1", lab.Host())
	say("  gateway-0 (127.0.200.200, app=gateway): proxyless gRPC through istiod at %g calls/s; Envoy-style stats on :15090", o.rate)

	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), "sluice-labdemo-controller.log")
	}
	_ = os.Remove(logPath)
	sl, err := lab.StartSluice(logPath)
	if err != nil {
		return err
	}
	defer func() { _ = sl.Stop() }()
	say("▶ sluice controller running in-process (log: %s)", logPath)
	dyn, err := dynamic.NewForConfig(lab.Cluster.Config)
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	vs, err := vswatch.Watch(ctx, dyn, lab.Namespace(), lab.Service(), lab.Service())
	if err != nil {
		return err
	}
	d := &demo{lab: lab, out: out, vs: vs, prev: lab.Callers[0].Counts()}
	ann := func(canary string) map[string]string {
		return map[string]string{
			"sluice.dev/enabled": "true", "sluice.dev/canary": canary, "sluice.dev/stats-from": "app=gateway",
			"sluice.dev/step-duration": o.stepDuration.String(), "sluice.dev/min-requests": "20",
		}
	}

	say("\n▶ release v2 (healthy): kubectl annotate svc reviews sluice.dev/canary=v2 sluice.dev/stats-from=app=gateway")
	if err := lab.Annotate(ctx, ann("v2")); err != nil {
		return err
	}
	if err := d.promote(ctx, "v2"); err != nil {
		return err
	}
	say("\n▶ release v3: kubectl annotate svc reviews sluice.dev/canary=v3 — at %d%% every v3 pod starts failing %.0f%% of calls with INTERNAL", o.faultAt, o.badErrorRate*100)
	if err := lab.Annotate(ctx, ann("v3")); err != nil {
		return err
	}
	return d.rollback(ctx, "v2", "v3", int32(o.faultAt), meshlab.Behaviour{ErrorRate: o.badErrorRate, ErrorCode: codes.Internal})
}
