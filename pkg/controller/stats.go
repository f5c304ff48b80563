package controller

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

// Collector reads the cumulative counts of a set of pods for a host.
type Collector interface {
	// Collect returns, per pod identity, the cumulative counts each pod reports for host,
	// and how many pods could not be read. A failed read is missing data, never zero.
	Collect(ctx context.Context, host string, pods []corev1.Pod) (map[string]envoy.Counts, int)
}

// DestinationScraper reads each pod's own sidecar stats (`:15090/stats/prometheus`,
// istio_requests_total{reporter="destination"}).
type DestinationScraper struct {
	Scraper *envoy.Scraper
	Port    int
	Path    string
}

// Collect scrapes every pod concurrently (the scraper bounds concurrency).
func (d *DestinationScraper) Collect(ctx context.Context, host string, pods []corev1.Pod) (map[string]envoy.Counts, int) {
	port, path := d.Port, d.Path
	if port == 0 {
		port = 15090
	}
	if path == "" {
		path = "/stats/prometheus"
	}
	var (
		mu     sync.Mutex
		ok     = make(map[string]envoy.Counts, len(pods))
		failed int
		wg     sync.WaitGroup
	)
	for i := range pods {
		p := &pods[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)) + path
			c, err := d.read(ctx, url, host)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				return
			}
			ok[podIdentity(p)] = c
		}()
	}
	wg.Wait()
	return ok, failed
}

func (d *DestinationScraper) read(ctx context.Context, url, host string) (envoy.Counts, error) {
	data, err := d.Scraper.Fetch(ctx, url)
	if err != nil {
		return envoy.Counts{}, err
	}
	rep, err := envoy.Parse(data, envoy.Query{Host: host, Side: envoy.Destination})
	if err != nil {
		return envoy.Counts{}, fmt.Errorf("parsing stats from %s: %w", url, err)
	}
	return rep.Total(), nil
}

// podIdentity changes when a pod is replaced or restarted, so its counters start a new series.
func podIdentity(p *corev1.Pod) string {
	var restarts int32
	for _, cs := range p.Status.ContainerStatuses {
		restarts += cs.RestartCount
	}
	return p.Name + "/" + string(p.UID) + "/" + p.Status.PodIP + "/" + strconv.Itoa(int(restarts))
}

// subsetPods lists the Ready pods with an IP that belong to subset: the Service's selector
// plus the DestinationRule subset's labels.
func (r *Reconciler) subsetPods(ctx context.Context, w *world, subset string) ([]corev1.Pod, error) {
	sel := labels.Set{}
	for k, v := range w.svc.Spec.Selector {
		sel[k] = v
	}
	for k, v := range subsetLabels(w.drs, w.target, subset) {
		sel[k] = v
	}
	list := &corev1.PodList{}
	if err := r.Client.List(ctx, list, client.InNamespace(w.svc.Namespace), client.MatchingLabelsSelector{Selector: sel.AsSelector()}); err != nil {
		return nil, fmt.Errorf("listing pods of subset %q: %w", subset, err)
	}
	out := list.Items[:0]
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(&p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// subsetLabels returns the labels of subset in the DestinationRules for the target host.
func subsetLabels(drs []*networkingv1.DestinationRule, t istio.Target, subset string) map[string]string {
	for _, dr := range drs {
		if !t.MatchesHost(dr.Spec.GetHost(), dr.Namespace) {
			continue
		}
		for _, s := range dr.Spec.GetSubsets() {
			if s.GetName() == subset {
				return s.GetLabels()
			}
		}
	}
	return nil
}
