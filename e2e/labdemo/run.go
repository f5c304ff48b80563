package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sluicedev/sluice/e2e/meshlab"
)

type options struct {
	stepDuration time.Duration
	rate         float64
	badErrorRate float64
	faultAt      int
	debounce     time.Duration
	logFile      string
}

func run(ctx context.Context, o options, out io.Writer) (err error) {
	if o.faultAt != 5 && o.faultAt != 25 && o.faultAt != 50 {
		return fmt.Errorf("-fault-at %d: expected 5, 25 or 50", o.faultAt)
	}
	log.SetLogger(logr.Discard())
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("▶ starting etcd, kube-apiserver and istiod (real binaries, built by e2e/k8sbins and e2e/istiodbin) …")
	t0 := time.Now()
	logPath := o.logFile
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), "sluice-labdemo-controller.log")
	}
	_ = os.Remove(logPath)
	sl, err := meshlab.StartWithSluice(ctx, meshlab.SluiceLabConfig{
		Lab: meshlab.Config{
			Subsets: []meshlab.Subset{{Name: "v1", Pods: 2}, {Name: "v2", Pods: 2}, {Name: "v3", Pods: 2}},
			Callers: 1, Rate: o.rate,
			Istiod: meshlab.IstiodOptions{BinDir: os.Getenv("SLUICE_ISTIOD_BIN")},
		},
		Confirm: meshlab.ConfirmAtCallers,
		LogPath: logPath,
		BeforeSluice: func(_ context.Context, lab *meshlab.Lab) error {
			say("  lab up in %s (istiod ready %s after exec; log %s)", time.Since(t0).Round(time.Millisecond), lab.Istiod.Started.Round(time.Millisecond), lab.Istiod.LogPath)
			say("  Service %s: DestinationRule subsets v1, v2, v3 (2 gRPC pods each on 127.0.200.10-15), VirtualService → v1", lab.Host())
			say("  gateway-0 (127.0.200.200, app=gateway): proxyless gRPC through istiod at %g calls/s; Envoy-style stats on :15090", o.rate)
			return nil
		},
	})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, sl.Stop()) }()
	say("▶ sluice controller running in-process (log: %s)", logPath)
	lab := sl.Lab
	d := &demo{lab: lab, out: out, vs: sl.VS, prev: lab.Callers[0].Counts()}
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
