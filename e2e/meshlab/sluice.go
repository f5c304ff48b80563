package meshlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/inproc"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// Confirm is how sluice confirms its weight writes in the lab's data plane.
type Confirm int

const (
	// ConfirmAtCallers reads the callers' config dumps, which the lab's callers serve
	// beside their stats (--config-dump-port 15090).
	ConfirmAtCallers Confirm = iota
	// ConfirmThroughIstiod reads the lab istiod's debug endpoints (--istiod-debug-url),
	// as in a cluster whose proxies' admin cannot be reached.
	ConfirmThroughIstiod
)

// SluiceLabConfig describes a lab with sluice running on it.
type SluiceLabConfig struct {
	// Lab is the mesh; its first subset is the stable one everything is routed to.
	Lab Config
	// Confirm is how sluice confirms the weights it writes.
	Confirm Confirm
	// LogPath is the file sluice's JSON log is appended to.
	LogPath string
	// BeforeSluice, when set, runs once the callers applied the route to stable, before
	// sluice starts (bench/timetozero measures the healthy latency there, with no
	// controller in the process).
	BeforeSluice func(context.Context, *Lab) error
}

// SluiceLab is a lab with the sluice controller running on it in this process and a
// watch on its VirtualService.
type SluiceLab struct {
	Lab    *Lab
	Sluice *inproc.Controller
	// VS records every split of the VirtualService's default route from sluice's start.
	VS        *vswatch.Log
	stopWatch context.CancelFunc
	stopOnce  sync.Once
	stopErr   error
}

// StartWithSluice brings a lab up (Start), routes its VirtualService to the first subset
// alone (RouteTo) and waits until every caller applied that route, starts sluice with
// cfg.Confirm's data-plane confirmation, and starts watching the VirtualService. As for
// Start, ctx bounds the start-up only: everything then runs until Stop. On error
// everything started is stopped.
func StartWithSluice(ctx context.Context, cfg SluiceLabConfig) (sl *SluiceLab, err error) {
	if len(cfg.Lab.Subsets) == 0 {
		return nil, errors.New("starting a lab with sluice: no subsets")
	}
	lab, err := Start(ctx, cfg.Lab)
	if err != nil {
		return nil, err
	}
	sl = &SluiceLab{Lab: lab, stopWatch: func() {}}
	defer func() {
		if err != nil {
			err = errors.Join(err, sl.Stop())
			sl = nil
		}
	}()
	stable := cfg.Lab.Subsets[0].Name
	if err := lab.RouteTo(ctx, stable); err != nil {
		return sl, err
	}
	for _, c := range lab.Callers {
		if _, err := c.WaitForWeights(ctx, lab.Host(), map[string]uint32{stable: 100}); err != nil {
			return sl, err
		}
	}
	if cfg.BeforeSluice != nil {
		if err := cfg.BeforeSluice(ctx, lab); err != nil {
			return sl, err
		}
	}
	// Detached from ctx's end (not its values): they run until Stop.
	run := context.WithoutCancel(ctx)
	if sl.Sluice, err = inproc.Start(run, lab.Cluster.Config, lab.sluiceOptions(cfg.Confirm), cfg.LogPath); err != nil {
		return sl, err
	}
	dyn, err := dynamic.NewForConfig(lab.Cluster.Config)
	if err != nil {
		return sl, fmt.Errorf("creating a dynamic client: %w", err)
	}
	watchCtx, stopWatch := context.WithCancel(run)
	sl.stopWatch = stopWatch
	if sl.VS, err = vswatch.Watch(watchCtx, dyn, lab.Namespace(), lab.Service(), lab.Service()); err != nil {
		return sl, err
	}
	return sl, nil
}

// sluiceOptions are the controller's settings on this lab with confirm's data-plane
// confirmation.
func (l *Lab) sluiceOptions(confirm Confirm) manager.Options {
	o := manager.Options{DataPlaneTimeout: 5 * time.Second}
	switch confirm {
	case ConfirmThroughIstiod:
		o.IstiodDebugURLs = []string{"http://" + l.Istiod.HTTPAddr}
	default:
		o.ConfigDumpPort = 15090
	}
	return o
}

// Stop stops sluice, the VirtualService watch and the lab, in that order, and returns
// sluice's error (manager.Run's, or that it did not stop in time). Calling it again
// returns the same error.
func (s *SluiceLab) Stop() error {
	s.stopOnce.Do(func() {
		if s.Sluice != nil {
			s.stopErr = s.Sluice.Stop()
		}
		s.stopWatch()
		s.Lab.Stop()
	})
	return s.stopErr
}

// Namespace is the lab's namespace; Service the name of its Service (and of its
// DestinationRule, VirtualService and TrafficShift).
func (l *Lab) Namespace() string { return l.cfg.Namespace }

// Service is the name of the lab's Service.
func (l *Lab) Service() string { return l.cfg.Service }

// ClusterName is the caller-side upstream cluster of subset: outbound|PORT|SUBSET|HOST.
func (l *Lab) ClusterName(subset string) string {
	return fmt.Sprintf("outbound|%d|%s|%s", l.cfg.Port, subset, l.Host())
}

// Annotate merges annotations into the lab's Service; an empty value removes the key.
func (l *Lab) Annotate(ctx context.Context, kv map[string]string) error {
	ann := map[string]any{}
	for k, v := range kv {
		if v == "" {
			ann[k] = nil
		} else {
			ann[k] = v
		}
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return fmt.Errorf("encoding annotations: %w", err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: l.cfg.Service, Namespace: l.cfg.Namespace}}
	if err := l.Cluster.Client.Patch(ctx, svc, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return fmt.Errorf("annotating Service %s/%s: %w", l.cfg.Namespace, l.cfg.Service, err)
	}
	return nil
}

// RouteTo rewrites the VirtualService's route to send everything to subset with no
// weight, the shape sluice expects before a rollout.
func (l *Lab) RouteTo(ctx context.Context, subset string) error {
	return Apply(ctx, l.Cluster.Client, fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  http:
  - route:
    - destination: {host: %[2]s, subset: %[3]s}
`, l.cfg.Namespace, l.cfg.Service, subset))
}

// TrafficShift returns the Service's TrafficShift as sluice last wrote it.
func (l *Lab) TrafficShift(ctx context.Context) (*sluicev1alpha1.TrafficShift, error) {
	ts := &sluicev1alpha1.TrafficShift{}
	if err := l.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: l.cfg.Namespace, Name: l.cfg.Service}, ts); err != nil {
		return nil, fmt.Errorf("reading TrafficShift %s/%s: %w", l.cfg.Namespace, l.cfg.Service, err)
	}
	return ts, nil
}

// WaitTrafficShift polls the TrafficShift every 20 ms until cond holds or ctx ends (the
// error then shows the last status seen).
func (l *Lab) WaitTrafficShift(ctx context.Context, what string, cond func(*sluicev1alpha1.TrafficShift) bool) (*sluicev1alpha1.TrafficShift, error) {
	var last *sluicev1alpha1.TrafficShift
	for {
		if ts, err := l.TrafficShift(ctx); err == nil {
			last = ts
			if cond(ts) {
				return ts, nil
			}
		}
		select {
		case <-ctx.Done():
			status := "none"
			if last != nil {
				data, _ := json.Marshal(last.Status)
				status = string(data)
			}
			return last, fmt.Errorf("waiting for TrafficShift %s/%s: %s: %w; last status %s", l.cfg.Namespace, l.cfg.Service, what, ctx.Err(), status)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SetSubsetBehaviour sets how every backend of subset answers.
func (l *Lab) SetSubsetBehaviour(subset string, b Behaviour) {
	for _, be := range l.BackendsOf(subset) {
		be.SetBehaviour(b)
	}
}

// RouteWeights reads the VirtualService's default route as subset → weight (a lone
// destination without weight is 100; a destination listed with weight 0 is present).
func (l *Lab) RouteWeights(ctx context.Context) (map[string]int32, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(standin.VirtualServiceGVR.GroupVersion().WithKind("VirtualService"))
	if err := l.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: l.cfg.Namespace, Name: l.cfg.Service}, u); err != nil {
		return nil, fmt.Errorf("reading VirtualService %s/%s: %w", l.cfg.Namespace, l.cfg.Service, err)
	}
	data, err := u.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding VirtualService %s/%s: %w", l.cfg.Namespace, l.cfg.Service, err)
	}
	return standin.WeightsFromJSON(data, l.cfg.Namespace, l.cfg.Service)
}
