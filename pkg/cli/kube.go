package cli

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/spec"
)

// session is a connection to the cluster plus the namespace the command works in.
type session struct {
	c  client.WithWatch
	ns string
}

// errNotFound marks a Service (or TrafficShift) that does not exist.
var errNotFound = errors.New("not found")

// scheme holds the types the plugin reads and writes.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, sluicev1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(fmt.Sprintf("building the client scheme: %v", err))
		}
	}
	return s
}()

// mapper maps the kinds the plugin reads to their resources without asking the API
// server's discovery: one call less per command, and an API refusal (403, 401) reaches
// the user with the server's own message rather than a discovery failure.
var mapper = func() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, k := range []struct {
		gvk  schema.GroupVersionKind
		root bool
	}{
		{corev1.SchemeGroupVersion.WithKind("Service"), false},
		{corev1.SchemeGroupVersion.WithKind("Namespace"), true},
		{appsv1.SchemeGroupVersion.WithKind("Deployment"), false},
		{sluicev1alpha1.GroupVersion.WithKind("TrafficShift"), false},
		{sluicev1alpha1.GroupVersion.WithKind("ShiftPolicy"), true},
	} {
		scope := meta.RESTScopeNamespace
		if k.root {
			scope = meta.RESTScopeRoot
		}
		m.Add(k.gvk, scope)
	}
	return m
}()

// connect builds a client from kubectl's connection flags (--kubeconfig, --context,
// --cluster, --user, --as, --token, --server, --request-timeout, …) and resolves the
// namespace the way kubectl does: -n, else the kubeconfig context's, else "default".
func (r *root) connect() (*session, error) {
	cfg, err := r.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns, _, err := r.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme, Mapper: mapper})
	if err != nil {
		return nil, fmt.Errorf("creating a client for %s: %w", cfg.Host, err)
	}
	return &session{c: c, ns: ns}, nil
}

// service returns the named Service, or an error wrapping errNotFound, or one saying it
// is not opted in to sluice.
func (s *session) service(ctx context.Context, name string) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, svc); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("service %s/%s: %w", s.ns, name, errNotFound)
		}
		return nil, fmt.Errorf("reading Service %s/%s: %w", s.ns, name, err)
	}
	if !spec.Enabled(svc.Annotations) {
		return nil, fmt.Errorf("service %s/%s is not opted in to sluice (annotation %s=\"true\" is missing)", s.ns, name, spec.AnnEnabled)
	}
	return svc, nil
}

// shift returns the Service's TrafficShift, or an error wrapping errNotFound.
func (s *session) shift(ctx context.Context, name string) (*sluicev1alpha1.TrafficShift, error) {
	ts := &sluicev1alpha1.TrafficShift{}
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, ts); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("TrafficShift %s/%s (sluice has not picked the Service up yet?): %w", s.ns, name, errNotFound)
		}
		return nil, fmt.Errorf("reading TrafficShift %s/%s: %w", s.ns, name, err)
	}
	return ts, nil
}

// steps returns the step schedule of the Service's rollouts, from its annotations and
// ShiftPolicy; nil when that cannot be known (policy unreadable, spec invalid).
func (s *session) steps(ctx context.Context, svc *corev1.Service) schedule.Schedule {
	var policy *sluicev1alpha1.ShiftPolicySpec
	name := spec.PolicyName(svc.Annotations)
	p := &sluicev1alpha1.ShiftPolicy{}
	switch err := s.c.Get(ctx, client.ObjectKey{Name: name}, p); {
	case err == nil:
		policy = &p.Spec
	case apierrors.IsNotFound(err) && name == spec.DefaultPolicyName:
	default:
		return nil
	}
	sp, err := spec.Parse(svc.Annotations, policy)
	if err != nil {
		return nil
	}
	return sp.Steps
}

// stepCount is len(steps): 0 when unknown.
func (s *session) stepCount(ctx context.Context, svc *corev1.Service) int {
	return len(s.steps(ctx, svc))
}
