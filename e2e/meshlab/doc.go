// Package meshlab runs a real istiod against a real API server with gRPC backends and
// proxyless gRPC callers, so rollouts can be observed on real traffic.
package meshlab
