package alerts

import (
	"fmt"
	"strings"

	"github.com/prometheus/alertmanager/template"
	"k8s.io/apimachinery/pkg/types"
)

// LabelPair names the labels that carry a Service's namespace and name.
type LabelPair struct {
	Namespace, Service string
}

// Selector finds the Service an alert is about, and the canary it names, from its labels.
type Selector struct {
	// Services are tried in order; the first pair whose two labels are both set wins.
	Services []LabelPair
	// Canaries are labels that may name the subset the alert is about, tried in order.
	Canaries []string
}

// DefaultSelector reads namespace+service, then Istio's standard destination labels;
// the canary from subset, version or Istio's destination_version.
func DefaultSelector() Selector {
	return Selector{
		Services: []LabelPair{{"namespace", "service"}, {"destination_service_namespace", "destination_service_name"}},
		Canaries: []string{"subset", "version", "destination_version"},
	}
}

// Target returns the Service an alert's labels name and the canary they name ("" for
// none); ok is false when no pair of labels names a Service.
func (s Selector) Target(labels template.KV) (svc types.NamespacedName, canary string, ok bool) {
	for _, p := range s.Services {
		ns, name := labels[p.Namespace], labels[p.Service]
		if ns != "" && name != "" {
			svc = types.NamespacedName{Namespace: ns, Name: shortName(name, ns)}
			ok = true
			break
		}
	}
	if !ok {
		return svc, "", false
	}
	for _, l := range s.Canaries {
		if v := labels[l]; v != "" {
			return svc, v, true
		}
	}
	return svc, "", true
}

// shortName turns Istio's destination_service_name (sometimes a host such as
// reviews.default.svc.cluster.local) into the Service's name.
func shortName(name, ns string) string {
	if short, rest, found := strings.Cut(name, "."); found && (rest == ns || strings.HasPrefix(rest, ns+".")) {
		return short
	}
	return name
}

// ParseServiceLabels reads pairs written as "namespace=service,ns_label=svc_label".
func ParseServiceLabels(v string) ([]LabelPair, error) {
	var out []LabelPair
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		ns, svc, found := strings.Cut(item, "=")
		if !found || ns == "" || svc == "" {
			return nil, fmt.Errorf("%q: expected namespace_label=service_label", item)
		}
		out = append(out, LabelPair{Namespace: ns, Service: svc})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: expected at least one namespace_label=service_label", v)
	}
	return out, nil
}
