package install

import (
	"context"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestRightsAsServiceAccount asks the real API server, through the real
// `kubectl auth can-i --as=system:serviceaccount:sluice-system:sluice`, what the
// ServiceAccount may do: the rights sluice needs are there, and the ones it must not have
// — writes on apps/*, Secrets beyond the named notification Secret, any write on
// DestinationRules, anything cluster-admin-like — are absent.
func TestRightsAsServiceAccount(t *testing.T) {
	tests := map[string]struct {
		args []string // verb, resource and flags after `auth can-i`
		want bool
	}{
		// What sluice does.
		"watch services":                {[]string{"watch", "services", "-A"}, true},
		"list pods":                     {[]string{"list", "pods", "-A"}, true},
		"patch virtualservices":         {[]string{"patch", "virtualservices.networking.istio.io", "-n", "shop"}, true},
		"watch destinationrules":        {[]string{"watch", "destinationrules.networking.istio.io", "-A"}, true},
		"watch shiftpolicies":           {[]string{"watch", "shiftpolicies.sluice.dev"}, true},
		"create trafficshifts":          {[]string{"create", "trafficshifts.sluice.dev", "-n", "shop"}, true},
		"update trafficshifts/status":   {[]string{"update", "trafficshifts.sluice.dev", "--subresource=status", "-n", "shop"}, true},
		"update services/finalizers":    {[]string{"update", "services", "--subresource=finalizers", "-n", "shop"}, true},
		"create events":                 {[]string{"create", "events.events.k8s.io", "-n", "shop"}, true},
		"get lease in sluice-system":    {[]string{"get", "leases.coordination.k8s.io", "-n", sluiceNamespace}, true},
		"create lease in sluice-system": {[]string{"create", "leases.coordination.k8s.io", "-n", sluiceNamespace}, true},
		"update lease in sluice-system": {[]string{"update", "leases.coordination.k8s.io", "-n", sluiceNamespace}, true},
		"get the notification Secret":   {[]string{"get", "secrets/" + notifySecret, "-n", sluiceNamespace}, true},
		// No writes on workloads: sluice never creates, scales or edits them.
		"create deployments":      {[]string{"create", "deployments.apps", "-n", "shop"}, false},
		"update deployments":      {[]string{"update", "deployments.apps", "-n", "shop"}, false},
		"patch deployments":       {[]string{"patch", "deployments.apps", "-A"}, false},
		"delete deployments":      {[]string{"delete", "deployments.apps", "-n", "shop"}, false},
		"patch deployments/scale": {[]string{"patch", "deployments.apps", "--subresource=scale", "-n", "shop"}, false},
		"create replicasets":      {[]string{"create", "replicasets.apps", "-n", "shop"}, false},
		"update replicasets":      {[]string{"update", "replicasets.apps", "-n", "shop"}, false},
		"patch replicasets":       {[]string{"patch", "replicasets.apps", "-n", "shop"}, false},
		"delete replicasets":      {[]string{"delete", "replicasets.apps", "-n", "shop"}, false},
		"read deployments":        {[]string{"get", "deployments.apps", "-n", "shop"}, false},
		"patch statefulsets":      {[]string{"patch", "statefulsets.apps", "-n", "shop"}, false},
		"delete pods":             {[]string{"delete", "pods", "-n", "shop"}, false},
		"create pods":             {[]string{"create", "pods", "-n", sluiceNamespace}, false},
		"exec into pods":          {[]string{"create", "pods", "--subresource=exec", "-n", "shop"}, false},
		"update services":         {[]string{"update", "services", "-n", "shop"}, false},
		"patch services":          {[]string{"patch", "services", "-n", "shop"}, false},
		// Secrets: the named notification Secret only, by name, in sluice's namespace.
		"get another Secret":         {[]string{"get", "secrets/sluice-webhook-token", "-n", sluiceNamespace}, false},
		"get any Secret":             {[]string{"get", "secrets", "-n", sluiceNamespace}, false},
		"list Secrets":               {[]string{"list", "secrets", "-n", sluiceNamespace}, false},
		"watch Secrets":              {[]string{"watch", "secrets", "-n", sluiceNamespace}, false},
		"list Secrets everywhere":    {[]string{"list", "secrets", "-A"}, false},
		"the named Secret elsewhere": {[]string{"get", "secrets/" + notifySecret, "-n", "shop"}, false},
		"update the named Secret":    {[]string{"update", "secrets/" + notifySecret, "-n", sluiceNamespace}, false},
		// DestinationRules: read only. VirtualServices: patched, never replaced or deleted.
		"create destinationrules": {[]string{"create", "destinationrules.networking.istio.io", "-n", "shop"}, false},
		"update destinationrules": {[]string{"update", "destinationrules.networking.istio.io", "-n", "shop"}, false},
		"patch destinationrules":  {[]string{"patch", "destinationrules.networking.istio.io", "-n", "shop"}, false},
		"delete destinationrules": {[]string{"delete", "destinationrules.networking.istio.io", "-n", "shop"}, false},
		"update virtualservices":  {[]string{"update", "virtualservices.networking.istio.io", "-n", "shop"}, false},
		"delete virtualservices":  {[]string{"delete", "virtualservices.networking.istio.io", "-n", "shop"}, false},
		"create virtualservices":  {[]string{"create", "virtualservices.networking.istio.io", "-n", "shop"}, false},
		"update shiftpolicies":    {[]string{"update", "shiftpolicies.sluice.dev"}, false},
		"leases outside its ns":   {[]string{"update", "leases.coordination.k8s.io", "-n", "kube-system"}, false},
		"delete its lease":        {[]string{"delete", "leases.coordination.k8s.io", "-n", sluiceNamespace}, false},
		// Nothing cluster-admin-like.
		"everything":                {[]string{"*", "*", "-A"}, false},
		"anything on sluice.dev":    {[]string{"*", "*.sluice.dev", "-A"}, false},
		"bind roles":                {[]string{"bind", "clusterroles.rbac.authorization.k8s.io"}, false},
		"escalate roles":            {[]string{"escalate", "clusterroles.rbac.authorization.k8s.io"}, false},
		"create rolebindings":       {[]string{"create", "rolebindings.rbac.authorization.k8s.io", "-n", sluiceNamespace}, false},
		"impersonate":               {[]string{"impersonate", "users"}, false},
		"tokens for other accounts": {[]string{"create", "serviceaccounts", "--subresource=token", "-n", sluiceNamespace}, false},
		"create namespaces":         {[]string{"create", "namespaces"}, false},
		"patch nodes":               {[]string{"patch", "nodes"}, false},
		"write flowschemas":         {[]string{"update", "flowschemas.flowcontrol.apiserver.k8s.io"}, false},
		"write CRDs":                {[]string{"update", "customresourcedefinitions.apiextensions.k8s.io"}, false},
		"write webhooks":            {[]string{"create", "mutatingwebhookconfigurations.admissionregistration.k8s.io"}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"auth", "can-i", "--as=" + saUser}, tc.args...)
			out, err := kubectl(t.Context(), args...)
			answer := strings.TrimSpace(lastLine(out))
			if answer != "yes" && answer != "no" {
				t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			if got := answer == "yes"; got != tc.want {
				t.Fatalf("kubectl %s: %s, want %v", strings.Join(args, " "), answer, tc.want)
			}
		})
	}
}

// TestNoWildcardRights: of all the ServiceAccount's rights (`kubectl auth can-i --list`),
// none names every resource or every verb.
func TestNoWildcardRights(t *testing.T) {
	for _, ns := range []string{sluiceNamespace, "shop"} {
		out, err := kubectl(t.Context(), "auth", "can-i", "--list", "--as="+saUser, "-n", ns)
		must(t, err)
		rows := 0
		for line := range strings.SplitSeq(out, "\n") {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] == "Resources" || strings.HasPrefix(f[0], "[") {
				continue // the header, and non-resource URLs (discovery, granted to everyone)
			}
			rows++
			if strings.Contains(f[0], "*") || strings.Contains(line, "[*]") || strings.Contains(line, " *]") || strings.Contains(line, "[* ") {
				t.Errorf("namespace %s: a wildcard right: %s", ns, line)
			}
		}
		if rows < 8 {
			t.Fatalf("namespace %s: only %d rights listed:\n%s", ns, rows, out)
		}
	}
}

// TestLeaseRightsSuffice: client-go's leader election (what --leader-elect runs), as the
// ServiceAccount, creates, renews and releases a Lease in sluice-system with the Role's
// rights alone.
func TestLeaseRightsSuffice(t *testing.T) {
	cs, err := kubernetes.NewForConfig(saConfig)
	must(t, err)
	const name = "sluice-install-e2e"
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: sluiceNamespace, Name: name},
		Client:     cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: "install-e2e-1"},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	renewed := make(chan struct{})
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond,
		ReleaseOnCancel: true, Name: name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				// Hold it through a few renewals, then give it up.
				select {
				case <-time.After(time.Second):
					close(renewed)
				case <-ctx.Done():
				}
			},
			OnStoppedLeading: func() {},
		},
	})
	must(t, err)
	go func() {
		<-renewed
		cancel()
	}()
	le.Run(ctx)
	select {
	case <-renewed:
	default:
		t.Fatal("never led: the Role does not let it create or renew the Lease")
	}
	lease := &coordinationv1.Lease{}
	must(t, adminC.Get(context.Background(), client.ObjectKey{Namespace: sluiceNamespace, Name: name}, lease))
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Fatalf("the lease was not released: holder %q", *h)
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
