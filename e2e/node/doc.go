// Package node runs a real one-node Kubernetes cluster for sluice's tests: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler, Debian's containerd and runc,
// and a kubelet, all inside private mount, network and PID namespaces (so nothing
// changes the machine's network or kernel settings, and nothing outlives the tests),
// with the node's cgroups under a cgroup of the test's own.
//
// The test binary runs twice: RunInNamespaces starts it again under unshare, and that
// inner copy (Inner) calls SetUpNamespace and Start. Images come from this repository
// (BuildImages: a pause image and hack/image's sluice image); no registry is used.
package node
