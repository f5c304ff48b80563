// Package cli is the kubectl-sluice command tree: cobra commands on kubectl's own flag
// and printer machinery (k8s.io/cli-runtime), reading TrafficShift status and writing
// the Service annotations that steer a rollout.
package cli
