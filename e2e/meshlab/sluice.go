package meshlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// Sluice is the sluice controller running in this process against a lab's API server,
// started the way the e2e tests start it.
type Sluice struct {
	// LogPath is the file the controller's JSON log is appended to.
	LogPath string
	cancel  context.CancelFunc
	done    chan error
}

// StartSluice runs sluice's manager against the lab until Stop, logging to logPath. It
// confirms weights in the callers' config dumps, which the lab's callers serve beside
// their stats.
func (l *Lab) StartSluice(logPath string) (*Sluice, error) {
	return l.startSluice(logPath, manager.Options{ConfigDumpPort: 15090})
}

// StartSluiceIstiodConfirm is StartSluice confirming weights through the lab istiod's
// debug endpoints instead (--istiod-debug-url), as in a cluster whose proxies' admin
// cannot be reached.
func (l *Lab) StartSluiceIstiodConfirm(logPath string) (*Sluice, error) {
	return l.startSluice(logPath, manager.Options{IstiodDebugURLs: []string{"http://" + l.Istiod.HTTPAddr}})
}

// startSluice runs the manager with the lab's settings and confirm's data-plane options.
func (l *Lab) startSluice(logPath string, confirm manager.Options) (*Sluice, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the controller log: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sluice{LogPath: logPath, cancel: cancel, done: make(chan error, 1)}
	go func() {
		defer f.Close()
		s.done <- manager.Run(ctx, l.Cluster.Config, manager.Options{
			MetricsAddr: "0", ProbeAddr: "0", LogFormat: "json", Workers: 4,
			ScrapeTimeout: 300 * time.Millisecond, LogOutput: f, Registerer: prometheus.NewRegistry(), AllowRestart: true,
			ConfigDumpPort: confirm.ConfigDumpPort, IstiodDebugURLs: confirm.IstiodDebugURLs, DataPlaneTimeout: 5 * time.Second,
		})
	}()
	return s, nil
}

// Stop stops the controller and waits (at most 30 s) for it to exit.
func (s *Sluice) Stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the sluice controller did not stop within 30s")
	}
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
