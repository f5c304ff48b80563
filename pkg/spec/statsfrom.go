package spec

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// StatsFrom selects the caller pods (e.g. the ingress gateway) whose caller-side Envoy
// stats are read instead of the subsets' own sidecars.
type StatsFrom struct {
	// Selector matches the caller pods.
	Selector labels.Selector
	// Namespace is where the caller pods run; "" means the Service's namespace.
	Namespace string
	// Raw is the annotation value as written.
	Raw string
}

// parseStatsFrom reads "<selector>[,namespace=<ns>]".
func parseStatsFrom(v string) (*StatsFrom, string) {
	selText, ns, hasNS := cutNamespaceTerm(v)
	var details []string
	if hasNS && !isLabel(ns) {
		details = append(details, fmt.Sprintf("namespace %q is not a DNS-1123 label", ns))
	}
	sel, err := labels.Parse(selText)
	switch {
	case err != nil:
		details = append(details, fmt.Sprintf("selector %q: %v", selText, err))
	case sel.Empty():
		details = append(details, "the selector is empty")
	}
	if len(details) > 0 {
		return nil, withDetail(expectStats, details)
	}
	return &StatsFrom{Selector: sel, Namespace: ns, Raw: v}, ""
}

// cutNamespaceTerm splits a trailing "namespace=<ns>" term (at parenthesis depth 0) off
// a selector. "namespace==<ns>" is accepted too; other operators stay label terms.
func cutNamespaceTerm(v string) (selector, ns string, ok bool) {
	depth, lastComma := 0, -1
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				lastComma = i
			}
		}
	}
	term := strings.TrimSpace(v[lastComma+1:])
	rest, found := strings.CutPrefix(term, "namespace")
	if !found {
		return v, "", false
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "=") {
		return v, "", false
	}
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "="), "=")
	if lastComma < 0 {
		return "", strings.TrimSpace(rest), true
	}
	return v[:lastComma], strings.TrimSpace(rest), true
}
