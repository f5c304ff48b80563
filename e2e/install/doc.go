// Package install tests sluice's install manifests on a real kube-apiserver and etcd:
// `kubectl apply -k manifests/` into a cluster that has only Istio's CRDs, the Pod Security
// Standard the namespace enforces, the API priority of the lease, and the controller run
// as the manifests' ServiceAccount (a TokenRequest token, not an administrator) through a
// promotion, a rollback and an alert, with every right it lacks shown absent by the real
// `kubectl auth can-i`. It also shows what a GitOps tool's server-side apply of the
// VirtualService does to a rollout.
package install
