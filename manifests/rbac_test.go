package manifests_test

import (
	"slices"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// allows reports whether rules grant verb on group/resource.
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

func TestClusterRole(t *testing.T) {
	var role *rbacv1.ClusterRole
	var leader *rbacv1.Role
	for _, obj := range decodeAll(t, "rbac.yaml") {
		switch o := obj.(type) {
		case *rbacv1.ClusterRole:
			role = o
		case *rbacv1.Role:
			leader = o
		}
	}
	if role == nil || leader == nil {
		t.Fatal("rbac.yaml lacks the ClusterRole or the leader-election Role")
	}
	type grant struct{ group, resource, verb string }
	var needed []grant
	add := func(group string, resources, verbs []string) {
		for _, r := range resources {
			for _, v := range verbs {
				needed = append(needed, grant{group, r, v})
			}
		}
	}
	read := []string{"get", "list", "watch"}
	add("", []string{"services", "pods"}, read)
	add("networking.istio.io", []string{"destinationrules"}, read)
	add("networking.istio.io", []string{"virtualservices"}, append(read, "patch"))
	add("sluice.dev", []string{"shiftpolicies"}, read)
	add("sluice.dev", []string{"trafficshifts"}, append(read, "create", "update", "delete"))
	add("sluice.dev", []string{"trafficshifts/status"}, []string{"update"})
	add("", []string{"events"}, []string{"create", "patch"})
	add("metrics.k8s.io", []string{"pods"}, []string{"get", "list"})
	add("events.k8s.io", []string{"events"}, []string{"create", "patch"})
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
	for _, v := range []string{"get", "create", "update"} {
		if !allows(leader.Rules, "coordination.k8s.io", "leases", v) {
			t.Errorf("leader-election Role does not grant %s on leases", v)
		}
	}
	if leader.Namespace != "sluice-system" {
		t.Errorf("leader-election Role is in %q, want sluice-system", leader.Namespace)
	}
}
