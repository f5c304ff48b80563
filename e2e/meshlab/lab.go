package meshlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// Subset is one version of the service and its number of pods.
type Subset struct {
	Name string // also the pods' version label
	Pods int
}

// Config describes a lab. Zero fields take the defaults in brackets.
type Config struct {
	Namespace string // [meshlab]
	Service   string // [reviews]
	Port      int    // gRPC port of the Service and its pods [9080]
	Subsets   []Subset
	Callers   int     // proxyless gRPC caller pods, named gateway-N, labelled app=gateway
	Rate      float64 // calls per second per caller
	// Weights are the VirtualService's initial subset weights [100 to the first subset].
	Weights map[string]int32
	// IPPrefix gives backends IPPrefix+(10+i) and callers IPPrefix+(200+i) [127.0.200.].
	IPPrefix string
	Istiod   IstiodOptions
}

// Lab is a running mesh: API server, istiod, backends and callers.
type Lab struct {
	Cluster    *cluster.Cluster
	Istiod     *Istiod
	Kubeconfig string
	Backends   []*Backend
	Callers    []*Caller
	cfg        Config
	dir        string
}

func (c *Config) defaults() {
	c.Namespace = cmpOr(c.Namespace, "meshlab")
	c.Service = cmpOr(c.Service, "reviews")
	c.IPPrefix = cmpOr(c.IPPrefix, "127.0.200.")
	if c.Port == 0 {
		c.Port = 9080
	}
	if c.Weights == nil && len(c.Subsets) > 0 {
		c.Weights = map[string]int32{c.Subsets[0].Name: 100}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Host is the Service's FQDN, as in outbound|PORT|SUBSET|HOST.
func (l *Lab) Host() string { return l.cfg.Service + "." + l.cfg.Namespace + ".svc.cluster.local" }

// Start brings a lab up: the API server (needs KUBEBUILDER_ASSETS), istiod, the
// namespace's Service, DestinationRule (one subset per version), VirtualService, backends
// and callers. On error everything started is stopped.
func Start(ctx context.Context, cfg Config) (l *Lab, err error) {
	cfg.defaults()
	l = &Lab{cfg: cfg}
	// Every error return below sets l to nil; stop what was started through started.
	started := l
	defer func() {
		if err != nil {
			started.Stop()
			l = nil
		}
	}()
	if l.dir, err = os.MkdirTemp("", "meshlab-"); err != nil {
		return nil, fmt.Errorf("creating the lab's directory: %w", err)
	}
	if l.Cluster, err = cluster.Start(ctx); err != nil {
		return nil, err
	}
	l.Kubeconfig = filepath.Join(l.dir, "kubeconfig")
	if err = l.Cluster.Kubeconfig(l.Kubeconfig); err != nil {
		return nil, err
	}
	if err = Apply(ctx, l.Cluster.Client, l.objects()); err != nil {
		return nil, err
	}
	if l.Istiod, err = StartIstiod(ctx, l.Kubeconfig, cfg.Istiod); err != nil {
		return nil, err
	}
	if err = l.startBackends(ctx); err != nil {
		return nil, err
	}
	for i := range cfg.Callers {
		name, ip := "gateway-"+strconv.Itoa(i), cfg.IPPrefix+strconv.Itoa(200+i)
		if err = RegisterPod(ctx, l.Cluster.Client, cfg.Namespace, name, ip, map[string]string{"app": "gateway"}); err != nil {
			return nil, err
		}
		c, err := StartCaller(ctx, CallerConfig{
			Name: name, Namespace: cfg.Namespace, IP: ip, IstiodAddr: l.Istiod.XDSAddr,
			Target: l.Host() + ":" + strconv.Itoa(cfg.Port), Rate: cfg.Rate,
		})
		if err != nil {
			return nil, err
		}
		l.Callers = append(l.Callers, c)
	}
	return l, nil
}

func (l *Lab) startBackends(ctx context.Context) error {
	n := 10
	for _, s := range l.cfg.Subsets {
		for i := range s.Pods {
			id := Workload{Namespace: l.cfg.Namespace, Service: l.cfg.Service, App: l.cfg.Service, Version: s.Name,
				Name: fmt.Sprintf("%s-%s-%d", l.cfg.Service, s.Name, i)}
			ip := l.cfg.IPPrefix + strconv.Itoa(n)
			n++
			b, err := StartBackend(ip, l.cfg.Port, id)
			if err != nil {
				return err
			}
			l.Backends = append(l.Backends, b)
			if err := RegisterWorkload(ctx, l.Cluster.Client, id.Namespace, id.Name, ip, map[string]string{"app": id.App, "version": id.Version}); err != nil {
				return err
			}
		}
	}
	return nil
}

// objects are the namespaces, Service, DestinationRule and VirtualService of the lab.
func (l *Lab) objects() string {
	c := l.cfg
	var subsets strings.Builder
	for _, s := range c.Subsets {
		fmt.Fprintf(&subsets, "  - name: %s\n    labels: {version: %s}\n", s.Name, s.Name)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  selector: {app: %[2]s}
  ports:
  - {name: grpc, port: %[3]d, targetPort: %[3]d, appProtocol: grpc}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  host: %[2]s
  subsets:
%[4]s---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  hosts: [%[2]s]
  http:
  - route:
%[5]s`, c.Namespace, c.Service, c.Port, subsets.String(), routeYAML(c.Service, c.Weights))
}

func routeYAML(service string, weights map[string]int32) string {
	names := make([]string, 0, len(weights))
	for n := range weights {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "    - destination: {host: %s, subset: %s}\n      weight: %d\n", service, n, weights[n])
	}
	return b.String()
}

// SetWeights rewrites the VirtualService's route (a merge patch) and returns when the
// API server accepted it.
func (l *Lab) SetWeights(ctx context.Context, weights map[string]int32) (time.Time, error) {
	var dests []map[string]any
	names := make([]string, 0, len(weights))
	for n := range weights {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		dests = append(dests, map[string]any{"destination": map[string]any{"host": l.cfg.Service, "subset": n}, "weight": weights[n]})
	}
	patch := map[string]any{"spec": map[string]any{"http": []any{map[string]any{"route": dests}}}}
	vs := &unstructured.Unstructured{}
	vs.SetAPIVersion("networking.istio.io/v1")
	vs.SetKind("VirtualService")
	vs.SetNamespace(l.cfg.Namespace)
	vs.SetName(l.cfg.Service)
	data, err := jsonMarshal(patch)
	if err != nil {
		return time.Time{}, err
	}
	if err := l.Cluster.Client.Patch(ctx, vs, client.RawPatch(types.MergePatchType, data)); err != nil {
		return time.Time{}, fmt.Errorf("setting weights %v on VirtualService %s/%s: %w", weights, l.cfg.Namespace, l.cfg.Service, err)
	}
	return time.Now(), nil
}

// BackendsOf returns the backends of one subset.
func (l *Lab) BackendsOf(subset string) []*Backend {
	var out []*Backend
	for _, b := range l.Backends {
		if b.ID.Version == subset {
			out = append(out, b)
		}
	}
	return out
}

// Stop stops callers, backends, istiod and the API server, and removes the lab's files.
func (l *Lab) Stop() {
	for _, c := range l.Callers {
		c.Stop()
	}
	for _, b := range l.Backends {
		b.Stop()
	}
	if l.Istiod != nil {
		l.Istiod.Close()
	}
	if l.Cluster != nil {
		_ = l.Cluster.Stop()
	}
	if l.dir != "" {
		_ = os.RemoveAll(l.dir)
	}
}

func jsonMarshal(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding a patch: %w", err)
	}
	return data, nil
}
