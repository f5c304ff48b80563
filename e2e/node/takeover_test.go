package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// takeoverBound is only a sanity bound (timing goals live in bench/takeover): with
// sluice's lease (1 s / 800 ms / 200 ms) a takeover takes about 1–2 s, and even with
// controller-runtime's default lease (15 s duration, 2 s retry) it takes 13–24 s.
const takeoverBound = 60 * time.Second

// TestTakeover: the leader pod's container is SIGKILLed (not deleted: the kubelet
// restarts it) during a rollout; the time from the kill to the new leader's first tick
// is measured and printed. The new leader is usually the other replica; the restarted
// one can win the lease too (both wait out the lease), which the test reports.
func TestTakeover(t *testing.T) {
	requireNode(t, true)
	ctx := context.Background()
	s := newShop(t, "takeover", "ratings", "198.51.100.4")
	for _, v := range []string{"v1", "v2"} {
		s.fleet.SetBehaviour(v, standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond})
	}
	// Steps long enough that the rollout is still Progressing when the new leader ticks.
	s.release("v2", "10m")
	s.waitPhase(60*time.Second, sluicev1alpha1.PhaseProgressing, "v2")

	pods := waitSluicePods(t, ctx, 2, 30*time.Second)
	holder := waitLeader(t, ctx, "", 30*time.Second)
	var leader corev1.Pod
	for _, p := range pods {
		if p.Name == podOfHolder(holder) {
			leader = p
		}
	}
	if leader.Name == "" {
		t.Fatalf("Lease holder %q is none of the pods", holder)
	}
	pid := containerPID(t, leader)
	// Ticks counted before the kill (none today: a standby does not reconcile) are not
	// the takeover's; the killed replica comes back as a new process, counting from 0.
	before := map[string]uint64{}
	for _, p := range pods {
		if p.Name != leader.Name {
			n, err := ticks(p.Status.PodIP)
			must(t, err)
			before[p.Name] = n
		}
	}

	killed := time.Now()
	must(t, syscall.Kill(pid, syscall.SIGKILL))
	newHolder := waitLeader(t, ctx, holder, takeoverBound)
	leased := time.Since(killed)
	ip := podIP(pods, podOfHolder(newHolder))
	ticked := firstTick(t, ip, before[podOfHolder(newHolder)], killed)
	who := "the other replica"
	if podOfHolder(newHolder) == leader.Name {
		// Both candidates wait out the lease; the restarted one began counting when it
		// started, which can be before the other last saw the lease renewed.
		who = "the killed replica, restarted by the kubelet"
	}
	acquired := acquiredAt(t, ctx, podOfHolder(newHolder))
	if !acquired.After(killed) {
		t.Fatalf("the new leader's log says it acquired the lease at %s, before the kill at %s", acquired, killed)
	}
	fmt.Printf("node: takeover after SIGKILL of the leader's container (the manifests' lease settings): "+
		"new leader %s; the Lease seen changing hands after %s, its log says acquired after %s; "+
		"its first tick after %s (seen by polling its /metrics every 20 ms)\n",
		who, leased.Round(time.Millisecond), acquired.Sub(killed).Round(time.Millisecond), ticked.Round(time.Millisecond))
	// The killed container is back and Ready, and still exactly one replica leads.
	leaders := 0
	for _, p := range waitSluicePods(t, ctx, 2, 60*time.Second) {
		if leading(t, p.Status.PodIP) {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d replicas lead after the takeover, want 1", leaders)
	}
}

// firstTick polls the pod's metrics every 20 ms until it has ticked more than before
// times, and returns the time from since to the first poll that saw it.
func firstTick(t *testing.T, ip string, before uint64, since time.Time) time.Duration {
	t.Helper()
	for {
		n, err := ticks(ip)
		took := time.Since(since)
		if err == nil && n > before {
			return took
		}
		if took > takeoverBound {
			t.Fatalf("the new leader (%s) did not tick within %s of the kill (last error: %v)", ip, takeoverBound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// acquiredAt reads the pod's log through the API server (and so the kubelet) for the
// line in which leader election says it acquired sluice's lease, and returns its time.
func acquiredAt(t *testing.T, ctx context.Context, pod string) time.Time {
	t.Helper()
	logs, err := kube.CoreV1().Pods(sluiceNS).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
	must(t, err)
	for _, line := range strings.Split(string(logs), "\n") {
		var l struct {
			Msg, Lock string
			TS        time.Time `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.EqualFold(l.Msg, "successfully acquired lease") && l.Lock == sluiceNS+"/"+leaseName {
			return l.TS
		}
	}
	t.Fatalf("the new leader's log (through the API server and kubelet) does not say it acquired the lease:\n%s", tail(string(logs), 2000))
	return time.Time{}
}

// containerPID finds the host PID of the pod's sluice container through containerd.
func containerPID(t *testing.T, p corev1.Pod) int {
	t.Helper()
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	out, err := exec.Command("ctr", "--address", stack.ContainerdSock, "-n", "k8s.io", "tasks", "ls").CombinedOutput()
	must(t, err)
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			pid, err := strconv.Atoi(f[1])
			must(t, err)
			return pid
		}
	}
	t.Fatalf("no containerd task %s in:\n%s", id, out)
	return 0
}

func podIP(pods []corev1.Pod, name string) string {
	for _, p := range pods {
		if p.Name == name {
			return p.Status.PodIP
		}
	}
	return ""
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
