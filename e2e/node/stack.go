package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// NodeName is the node's name (and the kubelet's hostname override).
const NodeName = "sluice-node"

// Options says where the node's binaries are.
type Options struct {
	// Dir is the work directory: configs, state, logs. It must be inside the namespaces
	// SetUpNamespace prepared.
	Dir string
	// Assets holds kube-apiserver, etcd and kubectl (e2e/k8sbins/build.sh).
	Assets string
	// Bins holds kubelet, kube-scheduler and kube-controller-manager (e2e/nodebins/build.sh).
	Bins string
}

// Stack is a running one-node cluster: etcd and kube-apiserver (envtest's), the
// controller-manager, the scheduler, containerd and the kubelet.
type Stack struct {
	// Config is an administrator's (system:masters) client configuration.
	Config *rest.Config
	// Kubeconfig is the same administrator as a kubeconfig file, for kubectl.
	Kubeconfig string
	// Kubectl is the kubectl binary.
	Kubectl string
	// ContainerdSock is containerd's socket, for ctr.
	ContainerdSock string

	paths                           paths
	env                             *envtest.Environment
	kube                            kubernetes.Interface
	containerd, kcm, sched, kubelet *process
}

// Start brings the node up and returns once the Node is Ready, with the pause and
// sluice images (BuildImages) imported.
func Start(ctx context.Context, o Options) (*Stack, error) {
	p := newPaths(o.Dir)
	s := &Stack{paths: p, Kubectl: filepath.Join(o.Assets, "kubectl"), ContainerdSock: p.ContainerdSock}
	err := s.start(ctx, o)
	if err != nil {
		s.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(ctx context.Context, o Options) error {
	if err := writeConfigs(s.paths, PauseImage); err != nil {
		return err
	}
	var err error
	if s.containerd, err = startProcess(o.Dir, "containerd", "containerd", "--config", s.paths.ContainerdConfig); err != nil {
		return err
	}
	if err := s.waitContainerd(ctx); err != nil {
		return err
	}
	if err := importImages(ctx, s.paths.ContainerdSock, o.Dir); err != nil {
		return err
	}
	if err := s.startControlPlane(ctx, o.Assets); err != nil {
		return err
	}
	if err := s.startComponents(o.Bins); err != nil {
		return err
	}
	return s.waitNodeReady(ctx, 90*time.Second)
}

// startControlPlane starts envtest's etcd and kube-apiserver on NodeIP:APIServerPort
// with what a cluster with nodes needs: Node and RBAC authorization, the ServiceAccount
// admission plugin, the kubelet reached at its InternalIP. Istio's CRDs are installed;
// sluice's come with its manifests.
func (s *Stack) startControlPlane(ctx context.Context, assets string) error {
	istioCRDs, err := cluster.IstioCRDs(ctx)
	if err != nil {
		return err
	}
	s.env = &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: []string{istioCRDs}, ErrorIfPathMissing: true},
	}
	api := s.env.ControlPlane.GetAPIServer()
	api.SecureServing.ListenAddr = envtest.ListenAddr{Address: NodeIP, Port: strconv.Itoa(APIServerPort)}
	api.Configure().
		Set("authorization-mode", "Node,RBAC").
		Disable("disable-admission-plugins"). // envtest turns ServiceAccount off; a cluster has it
		Set("advertise-address", NodeIP).
		Set("endpoint-reconciler-type", "none").
		Set("kubelet-preferred-address-types", "InternalIP")
	if s.Config, err = s.env.Start(); err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	s.Config.QPS, s.Config.Burst = 200, 400
	if s.kube, err = kubernetes.NewForConfig(s.Config); err != nil {
		return err
	}
	s.Kubeconfig = filepath.Join(s.paths.Dir, "admin.kubeconfig")
	return s.writeKubeconfig(s.Kubeconfig, envtest.User{Name: "sluice-node-admin", Groups: []string{"system:masters"}})
}

// startComponents starts the controller-manager, the scheduler and the kubelet. The
// kubelet authenticates as the node (system:node:NAME in system:nodes), which the Node
// authorizer admits; the other two as administrators, to keep the harness short.
func (s *Stack) startComponents(bins string) error {
	dir := s.paths.Dir
	certDir := s.env.ControlPlane.APIServer.CertDir
	caFile := filepath.Join(dir, "apiserver-ca.crt")
	if err := os.WriteFile(caFile, s.env.ControlPlane.APIServer.SecureServing.CA, 0o644); err != nil {
		return err
	}
	kcm, sched, kubelet := filepath.Join(dir, "kcm.kubeconfig"), filepath.Join(dir, "scheduler.kubeconfig"), filepath.Join(dir, "kubelet.kubeconfig")
	for path, u := range map[string]envtest.User{
		kcm:     {Name: "system:kube-controller-manager", Groups: []string{"system:masters"}},
		sched:   {Name: "system:kube-scheduler", Groups: []string{"system:masters"}},
		kubelet: {Name: "system:node:" + NodeName, Groups: []string{"system:nodes"}},
	} {
		if err := s.writeKubeconfig(path, u); err != nil {
			return err
		}
	}
	var err error
	// The service-account key lets it run the token controller; the root CA is what it
	// publishes as kube-root-ca.crt, which every pod's service-account volume mounts.
	if s.kcm, err = startProcess(dir, "kube-controller-manager", filepath.Join(bins, "kube-controller-manager"),
		"--kubeconfig="+kcm, "--leader-elect=false", "--bind-address=127.0.0.1", "--cert-dir="+filepath.Join(dir, "kcm-certs"),
		"--service-account-private-key-file="+filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file="+caFile, "--use-service-account-credentials=false"); err != nil {
		return err
	}
	if s.sched, err = startProcess(dir, "kube-scheduler", filepath.Join(bins, "kube-scheduler"),
		"--kubeconfig="+sched, "--leader-elect=false", "--bind-address=127.0.0.1", "--cert-dir="+filepath.Join(dir, "scheduler-certs")); err != nil {
		return err
	}
	s.kubelet, err = startProcess(dir, "kubelet", filepath.Join(bins, "kubelet"),
		"--config="+s.paths.KubeletConfig, "--kubeconfig="+kubelet, "--root-dir="+s.paths.KubeletRoot,
		"--node-ip="+NodeIP, "--hostname-override="+NodeName, "--v=1")
	return err
}

// writeKubeconfig writes a kubeconfig for u, authenticated by a client certificate.
func (s *Stack) writeKubeconfig(path string, u envtest.User) error {
	au, err := s.env.AddUser(u, nil)
	if err != nil {
		return fmt.Errorf("adding user %s: %w", u.Name, err)
	}
	data, err := au.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig of %s: %w", u.Name, err)
	}
	return os.WriteFile(path, data, 0o600)
}

func (s *Stack) waitContainerd(ctx context.Context) error {
	return poll(ctx, 20*time.Second, "containerd to answer", func() (bool, error) {
		if done, err := s.containerd.exited(); done {
			return false, fmt.Errorf("containerd exited: %v\n%s", err, s.containerd.tail(3000))
		}
		return exec.CommandContext(ctx, "ctr", "--address", s.paths.ContainerdSock, "version").Run() == nil, nil
	})
}

func (s *Stack) waitNodeReady(ctx context.Context, timeout time.Duration) error {
	err := poll(ctx, timeout, "node "+NodeName+" Ready", func() (bool, error) {
		for _, p := range []*process{s.containerd, s.kcm, s.sched, s.kubelet} {
			if done, err := p.exited(); done {
				return false, fmt.Errorf("%s exited: %v\n%s", p.name, err, p.tail(4000))
			}
		}
		n, err := s.kube.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil && s.kubelet != nil {
		return fmt.Errorf("%w\nkubelet log:\n%s", err, s.kubelet.tail(4000))
	}
	return err
}

// Stop stops the node in the order that lets each part shut down cleanly: the
// controller-manager first (so nothing recreates pods), the node's pods, the kubelet
// and the scheduler, the API server and then etcd (an API server whose etcd is gone
// hangs in its shutdown), containerd last. Errors are returned joined.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	errs = append(errs, s.kcm.stop(10*time.Second))
	if s.kube != nil && s.kubelet != nil {
		errs = append(errs, s.deletePods(ctx, 60*time.Second))
	}
	errs = append(errs, s.kubelet.stop(10*time.Second), s.sched.stop(10*time.Second))
	if s.env != nil {
		errs = append(errs, s.env.Stop())
	}
	errs = append(errs, s.containerd.stop(10*time.Second))
	return errors.Join(errs...)
}

// deletePods deletes every pod bound to the node and waits until the kubelet has
// stopped their containers and removed them.
func (s *Stack) deletePods(ctx context.Context, timeout time.Duration) error {
	pods := s.kube.CoreV1().Pods("")
	sel := metav1.ListOptions{FieldSelector: "spec.nodeName=" + NodeName}
	list, err := pods.List(ctx, sel)
	if err != nil {
		return fmt.Errorf("listing the node's pods: %w", err)
	}
	for _, p := range list.Items {
		if err := s.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	return poll(ctx, timeout, "the node's pods to be gone", func() (bool, error) {
		l, err := pods.List(ctx, sel)
		return err == nil && len(l.Items) == 0, nil
	})
}

// Logs returns the end of a component's log ("kubelet", "containerd",
// "kube-controller-manager", "kube-scheduler").
func (s *Stack) Logs(name string, n int) string {
	for _, p := range []*process{s.containerd, s.kcm, s.sched, s.kubelet} {
		if p != nil && p.name == name {
			return p.tail(n)
		}
	}
	return ""
}

// poll calls cond every 100 ms until it returns true or an error, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}
