package manifests_test

import (
	"slices"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// allows reports whether rules grant verb on group/resource (any name).
func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if (slices.Contains(r.APIGroups, group) || slices.Contains(r.APIGroups, "*")) &&
			(slices.Contains(r.Resources, resource) || slices.Contains(r.Resources, "*")) &&
			(slices.Contains(r.Verbs, verb) || slices.Contains(r.Verbs, "*")) {
			return true
		}
	}
	return false
}

// rbac is what rbac.yaml holds, by name.
type rbac struct {
	clusterRole *rbacv1.ClusterRole
	roles       map[string]*rbacv1.Role
	bindings    map[string]*rbacv1.RoleBinding
}

func loadRBAC(t *testing.T) rbac {
	t.Helper()
	out := rbac{roles: map[string]*rbacv1.Role{}, bindings: map[string]*rbacv1.RoleBinding{}}
	for _, obj := range decodeAll(t, "rbac.yaml") {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			out.clusterRole = o
		case *rbacv1.Role:
			out.roles[o.Name] = o
		case *rbacv1.RoleBinding:
			out.bindings[o.Name] = o
		}
	}
	if out.clusterRole == nil {
		t.Fatal("rbac.yaml has no ClusterRole")
	}
	return out
}

type grant struct{ group, resource, verb string }

func grants(group string, resources, verbs []string) []grant {
	var out []grant
	for _, r := range resources {
		for _, v := range verbs {
			out = append(out, grant{group, r, v})
		}
	}
	return out
}

func TestClusterRole(t *testing.T) {
	role := loadRBAC(t).clusterRole
	read := []string{"get", "list", "watch"}
	var needed []grant
	needed = append(needed, grants("", []string{"services", "pods"}, read)...)
	needed = append(needed, grants("networking.istio.io", []string{"destinationrules"}, read)...)
	needed = append(needed, grants("networking.istio.io", []string{"virtualservices"}, append(read, "patch"))...)
	needed = append(needed, grants("sluice.dev", []string{"shiftpolicies"}, read)...)
	needed = append(needed, grants("sluice.dev", []string{"trafficshifts"}, append(read, "create", "update", "delete"))...)
	needed = append(needed, grants("sluice.dev", []string{"trafficshifts/status"}, []string{"update"})...)
	needed = append(needed, grants("", []string{"events"}, []string{"create", "patch"})...)
	needed = append(needed, grants("metrics.k8s.io", []string{"pods"}, []string{"get", "list"})...)
	needed = append(needed, grants("events.k8s.io", []string{"events"}, []string{"create", "patch"})...)
	forbidden := []grant{
		{"", "services", "update"}, {"", "services", "patch"}, {"", "pods", "delete"}, {"", "secrets", "get"},
		{"apps", "deployments", "update"}, {"apps", "deployments", "get"}, {"apps", "replicasets", "patch"},
		{"networking.istio.io", "destinationrules", "patch"}, {"networking.istio.io", "destinationrules", "update"},
		{"networking.istio.io", "virtualservices", "update"}, {"networking.istio.io", "virtualservices", "delete"},
		{"sluice.dev", "shiftpolicies", "update"}, {"coordination.k8s.io", "leases", "update"},
	}
	for _, g := range needed {
		if !allows(role.Rules, g.group, g.resource, g.verb) {
			t.Errorf("ClusterRole does not grant %s on %s.%s", g.verb, g.resource, g.group)
		}
	}
	for _, g := range forbidden {
		if allows(role.Rules, g.group, g.resource, g.verb) {
			t.Errorf("ClusterRole grants %s on %s.%s, which sluice must not do", g.verb, g.resource, g.group)
		}
	}
}

// TestRoles: each namespaced Role is in sluice-system, bound to sluice's ServiceAccount,
// and grants exactly its rules: the Lease and its Events; the named notification Secrets
// by GET only. No rule anywhere has a wildcard.
func TestRoles(t *testing.T) {
	r := loadRBAC(t)
	tests := map[string]struct {
		rules []rbacv1.PolicyRule
	}{
		"sluice-leader-election": {rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}},
			{APIGroups: []string{"", "events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
		}},
		"sluice-notify-secrets": {rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}, ResourceNames: []string{"sluice-notify"}},
		}},
	}
	if len(r.roles) != len(tests) {
		t.Errorf("rbac.yaml has %d Roles, the test knows %d", len(r.roles), len(tests))
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			role, b := r.roles[name], r.bindings[name]
			if role == nil || b == nil {
				t.Fatalf("Role or RoleBinding %s missing", name)
			}
			if role.Namespace != "sluice-system" || b.Namespace != "sluice-system" {
				t.Errorf("in %q/%q, want sluice-system", role.Namespace, b.Namespace)
			}
			if b.RoleRef.Kind != "Role" || b.RoleRef.Name != name || len(b.Subjects) != 1 ||
				b.Subjects[0].Kind != "ServiceAccount" || b.Subjects[0].Name != "sluice" || b.Subjects[0].Namespace != "sluice-system" {
				t.Errorf("binding %+v %+v, want Role %s to ServiceAccount sluice-system/sluice", b.RoleRef, b.Subjects, name)
			}
			if !slices.EqualFunc(role.Rules, tc.rules, ruleEqual) {
				t.Errorf("rules %+v, want %+v", role.Rules, tc.rules)
			}
		})
	}
	all := slices.Clone(r.clusterRole.Rules)
	for _, role := range r.roles {
		all = append(all, role.Rules...)
	}
	for _, rule := range all {
		for _, list := range [][]string{rule.APIGroups, rule.Resources, rule.Verbs, rule.ResourceNames} {
			if slices.Contains(list, "*") {
				t.Errorf("rule with a wildcard: %+v", rule)
			}
		}
		if slices.Contains(rule.Resources, "secrets") && len(rule.ResourceNames) == 0 {
			t.Errorf("a rule on Secrets without resourceNames grants them all: %+v", rule)
		}
	}
}

func ruleEqual(a, b rbacv1.PolicyRule) bool {
	return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) &&
		slices.Equal(a.Verbs, b.Verbs) && slices.Equal(a.ResourceNames, b.ResourceNames)
}

// TestFlowSchema: the FlowSchema sends exactly the Lease requests the leader-election Role
// allows, of sluice's ServiceAccount, to the built-in leader-election priority level.
func TestFlowSchema(t *testing.T) {
	objs := decodeAll(t, "flowschema.yaml")
	fs, ok := objs[0].(*flowcontrolv1.FlowSchema)
	if !ok {
		t.Fatalf("flowschema.yaml holds %T", objs[0])
	}
	if fs.Spec.PriorityLevelConfiguration.Name != "leader-election" {
		t.Errorf("priority level %q, want leader-election", fs.Spec.PriorityLevelConfiguration.Name)
	}
	// Below the built-in service-accounts schema (9000), which would otherwise match.
	if p := fs.Spec.MatchingPrecedence; p <= 1 || p >= 9000 {
		t.Errorf("matchingPrecedence %d, want between the exempt schema (1) and service-accounts (9000)", p)
	}
	leader := loadRBAC(t).roles["sluice-leader-election"]
	if len(fs.Spec.Rules) != 1 || len(fs.Spec.Rules[0].Subjects) != 1 || len(fs.Spec.Rules[0].ResourceRules) != 1 {
		t.Fatalf("rules %+v, want one subject and one resource rule", fs.Spec.Rules)
	}
	sub, rr := fs.Spec.Rules[0].Subjects[0], fs.Spec.Rules[0].ResourceRules[0]
	if sub.Kind != flowcontrolv1.SubjectKindServiceAccount || sub.ServiceAccount == nil ||
		sub.ServiceAccount.Name != "sluice" || sub.ServiceAccount.Namespace != "sluice-system" {
		t.Errorf("subject %+v, want ServiceAccount sluice-system/sluice", sub)
	}
	want := leader.Rules[0]
	if !slices.Equal(rr.APIGroups, want.APIGroups) || !slices.Equal(rr.Resources, want.Resources) ||
		!slices.Equal(rr.Verbs, want.Verbs) || !slices.Equal(rr.Namespaces, []string{"sluice-system"}) {
		t.Errorf("resource rule %+v, want the leader-election Role's lease rule %+v in sluice-system", rr, want)
	}
}
