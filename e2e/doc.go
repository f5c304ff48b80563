// Package e2e holds sluice's end-to-end tests: the real controller against a real
// kube-apiserver and etcd, with stand-in pods whose traffic follows the VirtualService.
package e2e
