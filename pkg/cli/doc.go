// Package cli implements the cluster-facing commands of the kubectl-sluice plugin
// (status, wait, promote, abort, pause, resume, retry): argument parsing, reading
// TrafficShift status, writing operator annotations, and rendering the results.
package cli
