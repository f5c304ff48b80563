package node_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/node"
)

const (
	sluiceNS    = "sluice-system"
	sluiceLabel = "app.kubernetes.io/name=sluice"
	leaseName   = "sluice.sluice.dev"
)

// kubectl runs kubectl as the administrator and returns its combined output.
func kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, stack.Kubectl, append([]string{"--kubeconfig", stack.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// install applies the overlay. One apply creates the CRDs and a ShiftPolicy of them: if
// the API server has not established the CRDs yet, the policy fails, so after waiting
// for them the same apply runs again (an apply of unchanged objects changes nothing).
func install(ctx context.Context) error {
	if _, err := kubectl(ctx, "apply", "-k", "testdata/overlay"); err == nil {
		return nil
	}
	if _, err := kubectl(ctx, "wait", "--for=condition=Established", "--timeout=30s",
		"crd/shiftpolicies.sluice.dev", "crd/trafficshifts.sluice.dev"); err != nil {
		return err
	}
	_, err := kubectl(ctx, "apply", "-k", "testdata/overlay")
	return err
}

// TestInstall: `kubectl apply -k` of the production manifests (through the test's
// overlay) runs sluice's two replicas as Pods on the node, from the image hack/image
// built, under the sluice ServiceAccount, probes passing, exactly one of them leader.
func TestInstall(t *testing.T) {
	requireNode(t, false)
	ctx := context.Background()
	start := time.Now()
	must(t, install(ctx))
	pods := waitSluicePods(t, ctx, 2, 120*time.Second)
	t.Logf("kubectl apply -k → 2 sluice pods Running and Ready: %s", time.Since(start).Round(time.Millisecond))
	wantID, err := node.SluiceImageID(workDir)
	must(t, err)
	for _, p := range pods {
		checkSluicePod(t, p, wantID.String())
		for _, path := range []string{"/healthz", "/readyz"} {
			if code := httpStatus(t, "http://"+net.JoinHostPort(p.Status.PodIP, "8081")+path); code != http.StatusOK {
				t.Errorf("pod %s: GET %s = %d, want 200", p.Name, path, code)
			}
		}
	}
	holder := waitLeader(t, ctx, "", 60*time.Second)
	leaders := 0
	for _, p := range pods {
		if leading(t, p.Status.PodIP) {
			leaders++
			if podOfHolder(holder) != p.Name {
				t.Errorf("pod %s reports itself leader, but the Lease is held by %q", p.Name, holder)
			}
		}
	}
	if leaders != 1 {
		t.Fatalf("%d pods report leader_election_master_status 1, want exactly 1 (Lease holder %q)", leaders, holder)
	}
	t.Logf("leader: %s", holder)
	installed = !t.Failed()
}

// checkSluicePod checks what the manifests promise about one replica.
func checkSluicePod(t *testing.T, p corev1.Pod, imageID string) {
	t.Helper()
	if p.Spec.ServiceAccountName != "sluice" || p.Spec.NodeName != node.NodeName {
		t.Errorf("pod %s: serviceAccountName %q on node %q, want sluice on %s", p.Name, p.Spec.ServiceAccountName, p.Spec.NodeName, node.NodeName)
	}
	if len(p.Status.ContainerStatuses) != 1 {
		t.Fatalf("pod %s: %d container statuses, want 1", p.Name, len(p.Status.ContainerStatuses))
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.Image != node.SluiceImage || !strings.HasSuffix(cs.ImageID, imageID) {
		t.Errorf("pod %s runs image %s (%s), want %s (%s)", p.Name, cs.Image, cs.ImageID, node.SluiceImage, imageID)
	}
	if !cs.Ready || cs.State.Running == nil || cs.RestartCount != 0 {
		t.Errorf("pod %s: container ready=%v running=%v restarts=%d", p.Name, cs.Ready, cs.State.Running != nil, cs.RestartCount)
	}
}

// waitSluicePods waits until exactly n sluice pods exist, all Running and Ready.
func waitSluicePods(t *testing.T, ctx context.Context, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var last []corev1.Pod
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		l, err := kube.CoreV1().Pods(sluiceNS).List(ctx, metav1.ListOptions{LabelSelector: sluiceLabel})
		if err == nil {
			last = l.Items
			if len(last) == n && allReady(last) {
				return last
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("want %d sluice pods Running and Ready within %s; have:\n%s\nkubelet log:\n%s",
		n, timeout, describePods(last), stack.Logs("kubelet", 3000))
	return nil
}

func allReady(pods []corev1.Pod) bool {
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(p) {
			return false
		}
	}
	return true
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func describePods(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "  %s phase=%s ready=%v ip=%s", p.Name, p.Status.Phase, podReady(p), p.Status.PodIP)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " [%s restarts=%d waiting=%v terminated=%v]", cs.Name, cs.RestartCount, cs.State.Waiting, cs.State.Terminated)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// waitLeader waits until the leader Lease has a holder other than not, and returns it.
func waitLeader(t *testing.T, ctx context.Context, not string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h := leaseHolder(ctx); h != "" && h != not {
			return h
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no holder of Lease %s/%s other than %q within %s", sluiceNS, leaseName, not, timeout)
	return ""
}

func leaseHolder(ctx context.Context) string {
	l, err := kube.CoordinationV1().Leases(sluiceNS).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// podOfHolder is the pod name in a leader-election identity (hostname_uuid; a pod's
// hostname is its name).
func podOfHolder(identity string) string {
	name, _, _ := strings.Cut(identity, "_")
	return name
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
