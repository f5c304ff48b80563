package takeover

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	istiov1 "istio.io/api/networking/v1"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/cluster"
	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/e2e/vswatch"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/controller/manager"
)

// The Service every takeover scenario rolls out: stable v1, canary v2, two pods each.
const (
	Service, Stable, Canary = "reviews", "v1", "v2"
)

// auditPolicy logs every request but reads at Metadata level, once complete.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: None
    verbs: [get, list, watch]
    resources: [{group: "", resources: [pods, services, secrets, namespaces, configmaps]}]
  - level: Metadata
`

// Env is the control plane (with its audit log) and the sluice binary.
type Env struct {
	Cluster  *cluster.Cluster
	Kube     kubernetes.Interface
	Dyn      dynamic.Interface
	Bin      string
	Dir      string
	AuditLog string
}

// NewEnv builds cmd/sluice and starts the API server with an audit log, in dir.
func NewEnv(ctx context.Context, dir string) (*Env, error) {
	bin, err := Build(ctx, dir)
	if err != nil {
		return nil, err
	}
	e := &Env{Bin: bin, Dir: dir, AuditLog: filepath.Join(dir, "audit.log")}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return nil, err
	}
	if e.Cluster, err = cluster.StartWith(ctx, cluster.Options{AuditLog: e.AuditLog, AuditPolicy: policy}); err != nil {
		return nil, err
	}
	if e.Kube, err = kubernetes.NewForConfig(e.Cluster.Config); err != nil {
		return nil, errors.Join(err, e.Cluster.Stop())
	}
	if e.Dyn, err = dynamic.NewForConfig(e.Cluster.Config); err != nil {
		return nil, errors.Join(err, e.Cluster.Stop())
	}
	return e, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error { return e.Cluster.Stop() }

// Kubeconfig writes a kubeconfig for user (an administrator) into the env's dir; when
// server is set, it points there (a proxy) instead of the API server.
func (e *Env) Kubeconfig(user, server string) (string, error) {
	path := filepath.Join(e.Dir, "kubeconfig-"+user)
	if err := e.Cluster.UserKubeconfig(path, user, "system:masters"); err != nil {
		return "", err
	}
	if server == "" {
		return path, nil
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return "", err
	}
	for _, c := range cfg.Clusters {
		c.Server = server
	}
	return path, clientcmd.WriteToFile(*cfg, path)
}

// ReplicaArgs are the flags of a leader-electing replica with its Lease in ns; extra
// flags follow (later ones win).
func ReplicaArgs(ns string, extra ...string) []string {
	return append([]string{"--leader-elect", "--leader-elect-namespace=" + ns,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--log-format=json", "--scrape-timeout=300ms"}, extra...)
}

// CRDefaults are controller-runtime's default lease timings as flags.
var CRDefaults = []string{"--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s"}

// Holder is the Lease's holder in ns ("" when released or absent).
func (e *Env) Holder(ctx context.Context, ns string) (string, error) {
	l := &coordinationv1.Lease{}
	if err := e.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: manager.LeaseName}, l); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// Leader waits until one of replicas holds the Lease in ns and returns it.
func (e *Env) Leader(ctx context.Context, ns string, timeout time.Duration, replicas ...*Replica) (*Replica, error) {
	ids := map[string]*Replica{}
	for _, r := range replicas {
		id, err := r.Identity(ctx)
		if err != nil {
			return nil, err
		}
		ids[id] = r
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h, err := e.Holder(ctx, ns)
		if err != nil {
			return nil, err
		}
		if r := ids[h]; r != nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no replica held the Lease in %s within %s", ns, timeout)
}

// Rollout is one namespace with the Service, its routing, stand-in pods and a watch of
// its VirtualService.
type Rollout struct {
	NS    string
	Fleet *standin.Fleet
	VS    *vswatch.Log
	env   *Env
	// cancel ends the watches, so that the API server can stop.
	cancel context.CancelFunc
}

// NewRollout creates namespace ns with reviews (v1, v2 two pods each, rate req/s), the
// stand-ins on 127.0.N.x (distinct N per rollout running at the same time).
func (e *Env) NewRollout(ctx context.Context, ns string, n int, rate float64) (*Rollout, error) {
	labels := func(v string) map[string]string { return map[string]string{"app": Service, "version": v} }
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": Service}, Ports: []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}}}},
		&networkingv1.DestinationRule{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: ns},
			Spec: istiov1.DestinationRule{Host: Service, Subsets: []*istiov1.Subset{{Name: Stable, Labels: labels(Stable)}, {Name: Canary, Labels: labels(Canary)}}}},
		&networkingv1.VirtualService{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: ns},
			Spec: istiov1.VirtualService{Hosts: []string{Service}, Http: []*istiov1.HTTPRoute{{Route: []*istiov1.HTTPRouteDestination{{Destination: &istiov1.Destination{Host: Service, Subset: Stable}}}}}}},
	}
	for _, v := range []string{Stable, Canary} {
		objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: Service + "-" + v, Namespace: ns}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels(v)},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels(v)}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: Service, Image: "example.invalid/reviews:" + v}}}}}})
	}
	for _, o := range objs {
		if err := e.Cluster.Client.Create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	fleet, err := standin.Start(ctx, standin.Config{Client: e.Kube, Dynamic: e.Dyn, Namespace: ns, Service: Service, VirtualService: Service,
		Rate: rate, IPPrefix: "127.0." + strconv.Itoa(n) + ".", Seed: uint64(n)})
	if err != nil {
		cancel()
		return nil, err
	}
	r := &Rollout{NS: ns, Fleet: fleet, env: e, cancel: cancel}
	for _, v := range []string{Stable, Canary} {
		if _, err := fleet.AddPods(ctx, v, labels(v), 2); err != nil {
			r.Stop()
			return nil, err
		}
	}
	if r.VS, err = vswatch.Watch(ctx, e.Dyn, ns, Service, Service); err != nil {
		r.Stop()
		return nil, err
	}
	return r, nil
}

// Annotate merges ann into the Service's annotations ("" removes one).
func (r *Rollout) Annotate(ctx context.Context, ann map[string]string) error {
	m := map[string]any{}
	for k, v := range ann {
		if v == "" {
			m[k] = nil
		} else {
			m[k] = v
		}
	}
	patch, err := jsonMerge(map[string]any{"metadata": map[string]any{"annotations": m}})
	if err != nil {
		return err
	}
	return r.env.Cluster.Client.Patch(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: Service, Namespace: r.NS}}, client.RawPatch(types.MergePatchType, patch))
}

// TrafficShift reads the rollout's TrafficShift.
func (r *Rollout) TrafficShift(ctx context.Context) (*sluicev1alpha1.TrafficShift, error) {
	ts := &sluicev1alpha1.TrafficShift{}
	return ts, r.env.Cluster.Client.Get(ctx, client.ObjectKey{Namespace: r.NS, Name: Service}, ts)
}

// Wait polls the TrafficShift every 10 ms until cond holds.
func (r *Rollout) Wait(ctx context.Context, timeout time.Duration, what string, cond func(*sluicev1alpha1.TrafficShift) bool) (*sluicev1alpha1.TrafficShift, error) {
	var last *sluicev1alpha1.TrafficShift
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ts, err := r.TrafficShift(ctx)
		if err == nil && cond(ts) {
			return ts, nil
		}
		if err == nil {
			last = ts
		}
	}
	if last != nil {
		return nil, fmt.Errorf("TrafficShift %s/%s: not %s within %s (phase %s, step %d, weight %d)", r.NS, Service, what, timeout, last.Status.Phase, last.Status.Step, last.Status.Weight)
	}
	return nil, fmt.Errorf("TrafficShift %s/%s: not %s within %s", r.NS, Service, what, timeout)
}

// Stop stops the stand-ins and the VirtualService watch.
func (r *Rollout) Stop() {
	r.Fleet.Stop()
	r.cancel()
}

func jsonMerge(v any) ([]byte, error) { return json.Marshal(v) }
