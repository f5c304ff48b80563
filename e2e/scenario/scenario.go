// Package scenario builds the namespace of one end-to-end rollout test — a Service, its
// Istio routing objects and stand-in pods whose traffic follows the VirtualService — and
// reads back what sluice made of it: the TrafficShift, the VirtualService, the Events.
// The e2e and e2e/faults tests share it.
package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/e2e/standin"
)

// DestinationRule and VirtualService are the usual routing objects of Service reviews:
// subsets v1, v2 and v3; v1 alone serving. Routing is both, as one YAML stream.
const (
	DestinationRule = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
`
	VirtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
`
	Routing = DestinationRule + "---" + VirtualService
)

// Env is the test API server's clients.
type Env struct {
	Client client.Client
	Kube   kubernetes.Interface
	Dyn    dynamic.Interface
}

// NewEnv makes the typed and dynamic clients of cfg beside c.
func NewEnv(c client.Client, cfg *rest.Config) (Env, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return Env{}, fmt.Errorf("making a clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Env{}, fmt.Errorf("making a dynamic client: %w", err)
	}
	return Env{Client: c, Kube: kube, Dyn: dyn}, nil
}

// Spec says what Build creates.
type Spec struct {
	// Namespace is created; Service (selector app=Service, port http 9080) in it.
	Namespace, Service string
	// Routing holds the Istio objects to create, YAML documents separated by "---" lines
	// (VirtualService, DestinationRule, Gateway).
	Routing string
	// Pods is how many stand-in pods each subset gets, labelled app=Service,
	// version=subset; Behaviour says how a subset's pods answer (set before they exist).
	Pods      map[string]int
	Behaviour map[string]standin.SubsetBehaviour
	// Rate, IPPrefix and Seed go to the stand-in fleet (standin.Config), which follows
	// VirtualService Service.
	Rate     float64
	IPPrefix string
	Seed     uint64
}

// Scenario is one built namespace. Its helpers that fail the test use T, which Build
// leaves nil (New sets it).
type Scenario struct {
	T       testing.TB
	Ctx     context.Context
	Env     Env
	NS, Svc string
	Fleet   *standin.Fleet
	Pods    map[string][]*corev1.Pod // by subset
	cancel  context.CancelFunc
}

// New builds spec's namespace for t and removes it when t ends.
func New(t testing.TB, env Env, spec Spec) *Scenario {
	t.Helper()
	s, err := Build(env, spec)
	Must(t, err)
	s.T = t
	t.Cleanup(s.Close)
	return s
}

// Build creates the namespace, the Service, the routing objects and the stand-in pods,
// without a test: safe to call from any goroutine. On error what it made is removed.
func Build(env Env, spec Spec) (*Scenario, error) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Scenario{Ctx: ctx, Env: env, NS: spec.Namespace, Svc: spec.Service, Pods: map[string][]*corev1.Pod{}, cancel: cancel}
	if err := s.build(spec); err != nil {
		s.Close()
		return nil, fmt.Errorf("building scenario %s: %w", spec.Namespace, err)
	}
	return s, nil
}

func (s *Scenario) build(spec Spec) error {
	c := s.Env.Client
	if err := c.Create(s.Ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.NS}}); err != nil {
		return err
	}
	if err := c.Create(s.Ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.Svc, Namespace: s.NS},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": s.Svc},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 9080, TargetPort: intstr.FromInt32(9080)}},
		},
	}); err != nil {
		return err
	}
	if err := s.create(spec.Routing); err != nil {
		return err
	}
	fleet, err := standin.Start(s.Ctx, standin.Config{
		Client: s.Env.Kube, Dynamic: s.Env.Dyn, Namespace: s.NS, Service: s.Svc, VirtualService: s.Svc,
		Rate: spec.Rate, IPPrefix: spec.IPPrefix, Seed: spec.Seed,
	})
	if err != nil {
		return err
	}
	s.Fleet = fleet
	for v, b := range spec.Behaviour {
		fleet.SetBehaviour(v, b)
	}
	for v, n := range spec.Pods {
		pods, err := fleet.AddPods(s.Ctx, v, map[string]string{"app": s.Svc, "version": v}, n)
		if err != nil {
			return err
		}
		s.Pods[v] = pods
	}
	return nil
}

// Close stops the stand-ins and deletes the namespace (without waiting for it to go).
func (s *Scenario) Close() {
	if s.Fleet != nil {
		s.Fleet.Stop()
	}
	s.cancel()
	_ = s.Env.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.NS}})
}

// Apply creates the YAML documents (Istio routing objects) in the namespace.
func (s *Scenario) Apply(docs string) {
	s.T.Helper()
	Must(s.T, s.create(docs))
}

// create creates the YAML documents (VirtualService, DestinationRule, Gateway) in the
// namespace. Fixtures from Istio's samples use v1alpha3; the same spec serves as v1.
func (s *Scenario) create(docs string) error {
	for _, doc := range strings.Split(docs, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		obj, err := decode(doc)
		if err != nil {
			return err
		}
		obj.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		obj.SetNamespace(s.NS)
		obj.SetResourceVersion("")
		if err := s.Env.Client.Create(s.Ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s/%s: %w", obj.GetObjectKind(), s.NS, obj.GetName(), err)
		}
	}
	return nil
}

// decode reads one routing object from YAML.
func decode(doc string) (client.Object, error) {
	var meta struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
		return nil, err
	}
	var obj client.Object
	switch meta.Kind {
	case "VirtualService":
		obj = &networkingv1.VirtualService{}
	case "DestinationRule":
		obj = &networkingv1.DestinationRule{}
	case "Gateway":
		obj = &networkingv1.Gateway{}
	default:
		return nil, fmt.Errorf("unsupported kind %q", meta.Kind)
	}
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		return nil, err
	}
	return obj, json.Unmarshal(data, obj)
}

// Must fails t on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
