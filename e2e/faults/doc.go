// Package faults holds end-to-end tests of faults sluice must survive with nothing lost:
// etcd and the API server restarted mid-rollout, routing objects and the TrafficShift
// changed under a rollout, hostile stats endpoints, 100 Services and their VirtualServices
// edited by users while they roll out. Each runs against its own real kube-apiserver and
// etcd (e2e/cluster), which the tests restart, with the controller in this process, and
// checks every VirtualService watch event against the routing invariants (e2e/vswatch).
package faults
