package cli

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// session is a connection to the cluster plus the namespace the command works in.
type session struct {
	c  client.WithWatch
	ns string
}

// errNotFound marks a Service (or TrafficShift) that does not exist.
var errNotFound = errors.New("not found")

// connect loads the kubeconfig the way kubectl does (--kubeconfig, $KUBECONFIG,
// ~/.kube/config; --context; -n or the context's namespace) and builds a client.
func connect(k kubeFlags) (*session, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.Context}
	if k.Namespace != "" {
		overrides.Context.Namespace = k.Namespace
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, sluicev1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building the client scheme: %w", err)
		}
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
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

// stepCount returns how many steps the Service's rollouts have, from its annotations and
// ShiftPolicy; 0 when that cannot be known (policy unreadable, spec invalid).
func (s *session) stepCount(ctx context.Context, svc *corev1.Service) int {
	var policy *sluicev1alpha1.ShiftPolicySpec
	name := spec.PolicyName(svc.Annotations)
	p := &sluicev1alpha1.ShiftPolicy{}
	switch err := s.c.Get(ctx, client.ObjectKey{Name: name}, p); {
	case err == nil:
		policy = &p.Spec
	case apierrors.IsNotFound(err) && name == spec.DefaultPolicyName:
	default:
		return 0
	}
	sp, err := spec.Parse(svc.Annotations, policy)
	if err != nil {
		return 0
	}
	return len(sp.Steps)
}
