package node

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"text/template"
)

// paths are where one node keeps its state, all under its work directory.
type paths struct {
	Dir                                 string
	ContainerdRoot, ContainerdState     string
	ContainerdSock, ContainerdConfig    string
	RuncRoot, CNIConfDir, CNIDataDir    string
	KubeletRoot, KubeletConfig, PodLogs string
	CgroupRoot                          string
}

func newPaths(dir string) paths {
	return paths{
		Dir:              dir,
		ContainerdRoot:   filepath.Join(dir, "containerd", "root"),
		ContainerdState:  filepath.Join(dir, "containerd", "state"),
		ContainerdSock:   filepath.Join(dir, "containerd", "containerd.sock"),
		ContainerdConfig: filepath.Join(dir, "containerd", "config.toml"),
		RuncRoot:         filepath.Join(dir, "containerd", "runc"),
		CNIConfDir:       filepath.Join(dir, "cni", "net.d"),
		CNIDataDir:       filepath.Join(dir, "cni", "ipam"),
		KubeletRoot:      filepath.Join(dir, "kubelet"),
		KubeletConfig:    filepath.Join(dir, "kubelet-config.yaml"),
		PodLogs:          filepath.Join(dir, "pod-logs"),
		CgroupRoot:       CgroupRoot(),
	}
}

// containerdConfig is Debian's containerd 1.6 with its own root, state and socket. What
// this kind of machine needs (measured on it): restrict_oom_score_adj,
// since root lacks CAP_SYS_RESOURCE and runc cannot lower oom_score_adj otherwise; no
// hugetlb controller; cgroupfs, not systemd. The sandbox image is the local pause image.
// Plugins that would write outside the work directory (opt) or are not used are off.
const containerdConfig = `version = 2
root = "{{.ContainerdRoot}}"
state = "{{.ContainerdState}}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{{.ContainerdSock}}"

[ttrpc]
  address = "{{.ContainerdSock}}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{{.RuncRoot}}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{.CNIConfDir}}"
`

// cniConfig is a bridge with host-local addresses from PodCIDR. The bridge is the pods'
// default gateway, so they reach the API server on NodeIP. No masquerading: nothing
// leaves the namespace, and no iptables rule is needed.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "sluice-node",
  "plugins": [{
    "type": "bridge",
    "bridge": "cni0",
    "isGateway": true,
    "isDefaultGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "{{.PodCIDR}}"}]], "dataDir": "{{.CNIDataDir}}"}
  }]
}
`

// kubeletConfig is what a kubelet needs on this machine: cgroup v1 accepted
// (failCgroupV1: false), cgroupfs under a cgroup of the test's own, the kernel settings
// never modified (protectKernelDefaults; the namespace shows it the values it wants),
// eviction and image GC thresholds a busy shared disk never reaches, and fast status
// updates. Anonymous, always-allowed access to its API is acceptable only because it
// listens inside the private network namespace.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: {{.CgroupRoot}}
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: true
containerRuntimeEndpoint: unix://{{.ContainerdSock}}
address: {{.NodeIP}}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
podLogsDir: {{.PodLogs}}
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 5s
nodeStatusUpdateFrequency: 5s
nodeStatusReportFrequency: 5s
fileCheckFrequency: 5s
serializeImagePulls: false
`

// writeConfigs renders the three configurations into p's paths.
func writeConfigs(p paths, pauseImage string) error {
	data := struct {
		paths
		PauseImage, PodCIDR, NodeIP string
	}{p, pauseImage, PodCIDR, NodeIP}
	for _, d := range []string{filepath.Dir(p.ContainerdConfig), p.CNIConfDir, p.CNIDataDir, p.KubeletRoot, p.PodLogs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for file, text := range map[string]string{
		p.ContainerdConfig: containerdConfig,
		filepath.Join(p.CNIConfDir, "10-sluice.conflist"): cniConfig,
		p.KubeletConfig: kubeletConfig,
	} {
		var buf bytes.Buffer
		if err := template.Must(template.New(file).Parse(text)).Execute(&buf, data); err != nil {
			return fmt.Errorf("rendering %s: %w", file, err)
		}
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
