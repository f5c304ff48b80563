// Package source reads per-subset stats from where they live: cumulative request counts from the subsets' own sidecars, the callers' proxies or Prometheus, and the pods' memory and CPU from the resource metrics API or Prometheus.
package source

import (
	"context"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/spec"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// Default scrape target: the Istio sidecar Envoy's own Prometheus stats endpoint.
const (
	DefaultPort = 15090
	DefaultPath = "/stats/prometheus"
)

// Snapshot is one read of every subset: per subset, the cumulative counts per endpoint
// identity, and how many endpoints failed.
type Snapshot struct {
	// Subsets holds every subset of the Request (or, when the Request names none, every
	// subset the source reported).
	Subsets map[string]SubsetSnapshot
	// Note explains, for people, why data is missing (e.g. callers expose no stats for the
	// host's clusters); "" when nothing needs explaining.
	Note string
}

// SubsetSnapshot is what one read says about one subset.
type SubsetSnapshot struct {
	// OK holds the cumulative counts per endpoint identity: a pod identity (see
	// PodIdentity) for the sidecar sources, "prometheus" for Prometheus. The identity
	// changes when the endpoint's counters restart from zero.
	OK map[string]traffic.Counts
	// Failed is how many endpoints could not be read: missing data, never zero traffic.
	Failed int
}

// Request says what to read.
type Request struct {
	// Host is the FQDN of the Service, e.g. reviews.default.svc.cluster.local.
	Host string
	// Namespace is the Service's namespace.
	Namespace string
	// Subsets holds the Ready pods (with IPs) of each subset; the destination side scrapes
	// them, the other sources only use the subset names.
	Subsets map[string][]corev1.Pod
	// StatsFrom selects the caller pods for the caller side; nil otherwise.
	StatsFrom *spec.StatsFrom
	// MaxAge, when positive, bounds how old data read for other Services may be when it
	// serves this read too (the caller side shares each caller's page, see CallerPages):
	// the reader's tick interval with Seen, half of it without. 0 leaves it to the source.
	MaxAge time.Duration
	// Seen, when set, is the reader's memory of the caller pages it read: the caller
	// side serves it only pages newer than those (or, while a newer one is being
	// fetched, the same again: see CallerPages.ReadAfter), and updates it. A rollout
	// keeps one across its ticks.
	Seen *PageMarks
	// Recheck says the reader is rechecking a suspect canary: it reads again every MaxAge
	// (a fraction of its interval) while the suspicion lasts. The caller side then serves
	// it each caller's page that is newer than its last at once, however old (AnyAge),
	// and waits only when there is none; ReadAhead keeps new pages coming.
	Recheck bool
	// Fresh asks for data read after Read began, never a page read earlier for another
	// Service: a rollout's baseline, so that what was counted before the rollout began
	// stays out of its window. The destination side always reads afresh.
	Fresh bool
}

// Source reads one Snapshot. A returned error means nothing could be read at all (e.g.
// the callers could not be listed, Prometheus could not be queried); endpoints that fail
// individually are counted in SubsetSnapshot.Failed instead.
type Source interface {
	Read(ctx context.Context, req Request) (Snapshot, error)
}

// ReadAheader is a Source whose reads share what they fetch between readers (the
// callers' pages): ReadAhead starts, without waiting, what the reader's next read of req
// will want, unless it is on its way or already there.
type ReadAheader interface {
	ReadAhead(req Request)
}

// PodIdentity names a pod's counter series: it changes when the pod is replaced or a
// container restarts, so that counters starting again from zero begin a new series. The
// part before the first "/" is the pod name (pkg/window relies on that).
func PodIdentity(p *corev1.Pod) string {
	var restarts int32
	for _, cs := range p.Status.ContainerStatuses {
		restarts += cs.RestartCount
	}
	return p.Name + "/" + string(p.UID) + "/" + p.Status.PodIP + "/" + strconv.Itoa(int(restarts))
}

// statsURL is the filtered stats URL of a pod's Envoy for q.
func statsURL(ip string, port int, path string, q envoy.Query) string {
	return envoy.StatsURL(endpointURL(ip, port, path), q)
}

// endpointURL is the unfiltered stats URL of a pod's Envoy (defaults DefaultPort, DefaultPath).
func endpointURL(ip string, port int, path string) string {
	if port == 0 {
		port = DefaultPort
	}
	if path == "" {
		path = DefaultPath
	}
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(port)) + path
}

// newSubsets returns an empty SubsetSnapshot for every subset named in req.
func newSubsets(req Request) map[string]SubsetSnapshot {
	out := make(map[string]SubsetSnapshot, len(req.Subsets))
	for name, pods := range req.Subsets {
		out[name] = SubsetSnapshot{OK: make(map[string]traffic.Counts, len(pods))}
	}
	return out
}
