package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The node's addresses inside its private network namespace. NodeCIDR on lo makes every
// address of 198.51.100.0/25 (TEST-NET-2) local: the API server listens on NodeIP, the
// stand-in stats servers on others. Pods get addresses from PodCIDR on the bridge.
const (
	NodeIP   = "198.51.100.10"
	NodeCIDR = NodeIP + "/25"
	PodCIDR  = "198.51.100.128/25"
	// APIServerPort is fixed: nothing else listens in the private namespace, and the
	// overlay's KUBERNETES_SERVICE_PORT names it.
	APIServerPort = 6443
)

// Environment variables between the two halves of the test binary.
const (
	// innerEnv is set, to the work directory, in the copy running inside the namespaces.
	innerEnv = "SLUICE_NODE_INNER"
	// cgroupEnv names the cgroup (under every hierarchy's root) the node's pods go in.
	cgroupEnv = "SLUICE_NODE_CGROUP"
)

// kernelDefaults are the values the kubelet insists on (pkg/kubelet/cm,
// setupKernelTunables). Inside the namespaces, files holding them are bind-mounted over
// /proc/sys, so the kubelet reads what it wants and the machine's settings stay as they are.
var kernelDefaults = map[string]string{
	"vm/overcommit_memory":      "1",
	"vm/panic_on_oom":           "0",
	"kernel/panic":              "10",
	"kernel/panic_on_oops":      "1",
	"kernel/keys/root_maxkeys":  "1000000",
	"kernel/keys/root_maxbytes": "25000000",
}

// privateDirs get an empty tmpfs inside the mount namespace: paths containerd, its
// shims, CNI and the kubelet use whatever their configuration says (the kubelet's
// /var/log/containers links, containerd's shim sockets, CNI's result cache), so nothing
// is left on the machine but the empty mount points.
var privateDirs = []string{"/run/containerd", "/run/netns", "/var/lib/cni", "/var/lib/kubelet", "/var/log/containers", "/var/log/pods"}

// Inner reports whether this process is the copy running inside the namespaces, and
// its work directory.
func Inner() (dir string, ok bool) {
	dir = os.Getenv(innerEnv)
	return dir, dir != ""
}

// RunInNamespaces runs this test binary again, with the same arguments, inside new
// mount, network and PID namespaces (unshare), with dir as its work directory, and
// returns its exit code. The PID namespace ends every process of the node (containerd's
// shims and the containers too) when the inner copy exits. Afterwards it removes the
// node's cgroups.
func RunInNamespaces(dir string) int {
	cg := fmt.Sprintf("sluice-node-%d", os.Getpid())
	if err := makeCgroups(cg); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	defer func() {
		if err := removeCgroups(cg, 30*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
		}
	}()
	args := append([]string{"--mount", "--net", "--pid", "--fork", "--mount-proc", "--propagation", "private", os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), innerEnv+"="+dir, cgroupEnv+"="+cg)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitCode()
	default:
		fmt.Fprintln(os.Stderr, "node: running the tests inside new namespaces:", err)
		return 1
	}
}

// SetUpNamespace prepares the namespaces this process runs in: lo up with the node's
// addresses, the private directories and the kubelet's kernel settings.
func SetUpNamespace(ctx context.Context, dir string) error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", NodeCIDR, "dev", "lo"},
	} {
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	for _, d := range privateDirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating mount point %s: %w", d, err)
		}
		if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "mode=755"); err != nil {
			return fmt.Errorf("mounting a private tmpfs on %s: %w", d, err)
		}
	}
	sysDir := filepath.Join(dir, "sysctl")
	if err := os.MkdirAll(sysDir, 0o755); err != nil {
		return err
	}
	for key, val := range kernelDefaults {
		f := filepath.Join(sysDir, strings.ReplaceAll(key, "/", "."))
		if err := os.WriteFile(f, []byte(val+"\n"), 0o644); err != nil {
			return err
		}
		if err := syscall.Mount(f, "/proc/sys/"+key, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting %s over /proc/sys/%s: %w", f, key, err)
		}
	}
	return nil
}

// CgroupRoot is the kubelet's cgroupRoot: the cgroup RunInNamespaces made for the node.
func CgroupRoot() string { return "/" + os.Getenv(cgroupEnv) }

// cgroupHierarchies lists the mounted cgroup hierarchies (v1 controllers, and the
// unified v2 one of a hybrid setup).
func cgroupHierarchies() ([]string, error) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			out = append(out, f[1])
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted")
	}
	return out, nil
}

// makeCgroups creates cgroup name at the root of every hierarchy (the kubelet requires
// its cgroupRoot to exist), with the cpuset of the root so tasks can join it.
func makeCgroups(name string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	for _, h := range hs {
		d := filepath.Join(h, name)
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if v, err := os.ReadFile(filepath.Join(h, f)); err == nil && !strings.HasSuffix(h, "unified") {
				_ = os.WriteFile(filepath.Join(d, f), v, 0o644)
			}
		}
	}
	return nil
}

// removeCgroups removes cgroup name and everything under it in every hierarchy, deepest
// first, retrying while the processes killed with the PID namespace are still exiting.
func removeCgroups(name string, timeout time.Duration) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		var left []string
		for _, h := range hs {
			left = append(left, removeTree(filepath.Join(h, name))...)
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroups left behind (remove them with rmdir): %s", strings.Join(left, " "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// removeTree rmdirs dir's subdirectories and then dir; it returns the ones still there.
func removeTree(dir string) []string {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	var left []string
	for _, e := range entries {
		if e.IsDir() {
			left = append(left, removeTree(filepath.Join(dir, e.Name()))...)
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		left = append(left, dir)
	}
	return left
}
