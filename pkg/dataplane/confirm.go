// Package dataplane confirms that the callers' proxies applied a weight sluice wrote, by
// reading the routes they really received (Envoy's /config_dump).
package dataplane

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/spec"
)

// Confirmer reads the callers' config dumps.
type Confirmer struct {
	Reader  client.Reader
	Scraper *envoy.Scraper
	// Port and Path of the proxies' config dump (Envoy's admin: 15000, /config_dump).
	Port int
	Path string
}

// Result says how many callers route the host with the wanted canary weight.
type Result struct {
	// Callers is the number of caller pods read; Applied how many show the wanted weight.
	Callers, Applied int
	// Failed is how many could not be read or parsed.
	Failed int
	// Seen is the canary weight each caller that answered has (absent = 0).
	Seen map[string]uint32
}

// Done reports whether every caller answered and applied the weight.
func (r Result) Done() bool { return r.Callers > 0 && r.Applied == r.Callers }

// Check reads every caller selected by from (namespace defaulting to ns) and compares the
// canary subset's weight for host with want. Istio drops weight-0 destinations, so an
// absent canary counts as 0.
func (c *Confirmer) Check(ctx context.Context, ns string, from *spec.StatsFrom, host, canary string, want int32) (Result, error) {
	pods, err := callerPods(ctx, c.Reader, ns, from, host)
	if err != nil {
		return Result{}, err
	}
	port, path := c.Port, c.Path
	if port == 0 {
		port = 15000
	}
	if path == "" {
		path = "/config_dump"
	}
	res := Result{Callers: len(pods), Seen: map[string]uint32{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range pods {
		p := &pods[i]
		wg.Go(func() {
			url := "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)) + path
			w, err := c.canaryWeight(ctx, url, host, canary)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				return
			}
			res.Seen[p.Name] = w
			if int32(w) == want {
				res.Applied++
			}
		})
	}
	wg.Wait()
	return res, nil
}

// callerPods lists the Ready callers selected by from, in its namespace or else ns.
func callerPods(ctx context.Context, r client.Reader, ns string, from *spec.StatsFrom, host string) ([]corev1.Pod, error) {
	if from == nil || from.Selector == nil {
		return nil, fmt.Errorf("confirming weights for %s: no stats-from callers", host)
	}
	if from.Namespace != "" {
		ns = from.Namespace
	}
	return source.ReadyPods(ctx, r, from.Selector, ns)
}

func (c *Confirmer) canaryWeight(ctx context.Context, url, host, canary string) (uint32, error) {
	data, err := c.Scraper.Fetch(ctx, url)
	if err != nil {
		return 0, err
	}
	rw, err := envoy.ParseConfigDump(data)
	if err != nil {
		return 0, fmt.Errorf("config dump from %s: %w", url, err)
	}
	ws := envoy.SubsetWeights(rw, host)
	if ws == nil {
		return 0, fmt.Errorf("config dump from %s has no route to a subset of %s", url, host)
	}
	return ws[canary], nil
}
