package source

import (
	"context"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"

	"github.com/sluicedev/sluice/pkg/analysis"
)

// UsageRequest says whose memory and CPU to read: per subset, its pods.
type UsageRequest struct {
	Namespace string
	Subsets   map[string]SubsetPods
}

// SubsetPods are a subset's pods: the label selector that finds them and the names of
// those to count (its Ready pods).
type SubsetPods struct {
	Selector labels.Set
	Names    []string
}

// Usage is, per subset, its pods' usage (summed over each pod's containers).
type Usage map[string][]analysis.PodUsage

// UsageSource reads the pods' memory and CPU. An error means nothing could be read; a
// subset whose pods report nothing gets no entries (no data, never zero usage).
type UsageSource interface {
	ReadUsage(ctx context.Context, req UsageRequest) (Usage, error)
}

// MetricsAPI reads PodMetrics from the resource metrics API (metrics.k8s.io/v1beta1, as
// metrics-server serves it through the API server's aggregation layer).
type MetricsAPI struct {
	Client metricsv1beta1.MetricsV1beta1Interface
}

// ReadUsage lists each subset's PodMetrics by its selector and keeps the named pods.
func (m *MetricsAPI) ReadUsage(ctx context.Context, req UsageRequest) (Usage, error) {
	out := Usage{}
	for _, subset := range slices.Sorted(maps.Keys(req.Subsets)) {
		sp := req.Subsets[subset]
		list, err := m.Client.PodMetricses(req.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sp.Selector.AsSelector().String()})
		if err != nil {
			return nil, fmt.Errorf("listing PodMetrics of subset %s in %s: %w", subset, req.Namespace, err)
		}
		for _, pm := range list.Items {
			if !slices.Contains(sp.Names, pm.Name) {
				continue
			}
			u := analysis.PodUsage{Name: pm.Name}
			for _, c := range pm.Containers {
				u.MemoryBytes += c.Usage.Memory().AsApproximateFloat64()
				u.CPUCores += c.Usage.Cpu().AsApproximateFloat64()
			}
			out[subset] = append(out[subset], u)
		}
	}
	return out, nil
}

// Default cAdvisor queries of PrometheusUsage; %s are the namespace and the pod-name
// regular expression, escaped, and for CPU the rate's range.
const (
	MemoryQuery = `sum by (pod) (container_memory_working_set_bytes{namespace="%s",pod=~"%s",container!="",container!="POD"})`
	CPUQuery    = `sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="%s",pod=~"%s",container!="",container!="POD"}[%s]))`
)

// PrometheusUsage reads cAdvisor's container_memory_working_set_bytes and
// container_cpu_usage_seconds_total from Prometheus.
type PrometheusUsage struct {
	Prometheus *Prometheus
	// CPURange is the range of the CPU rate (default 1m).
	CPURange string
}

// ReadUsage runs one memory and one CPU query over every named pod of the subsets.
func (p *PrometheusUsage) ReadUsage(ctx context.Context, req UsageRequest) (Usage, error) {
	bySubset := map[string]string{}
	var names []string
	for subset, sp := range req.Subsets {
		for _, n := range sp.Names {
			bySubset[n] = subset
			names = append(names, regexp.QuoteMeta(n))
		}
	}
	out := Usage{}
	if len(names) == 0 {
		return out, nil
	}
	slices.Sort(names)
	ns, re := promEscape(req.Namespace), promEscape(strings.Join(names, "|"))
	rng := p.CPURange
	if rng == "" {
		rng = "1m"
	}
	mem, err := p.Prometheus.vector(ctx, fmt.Sprintf(MemoryQuery, ns, re))
	if err != nil {
		return nil, fmt.Errorf("reading memory from Prometheus: %w", err)
	}
	cpu, err := p.Prometheus.vector(ctx, fmt.Sprintf(CPUQuery, ns, re, rng))
	if err != nil {
		return nil, fmt.Errorf("reading CPU from Prometheus: %w", err)
	}
	usage := map[string]*analysis.PodUsage{}
	for _, v := range [...]struct {
		vec model.Vector
		set func(*analysis.PodUsage, float64)
	}{
		{mem, func(u *analysis.PodUsage, f float64) { u.MemoryBytes = f }},
		{cpu, func(u *analysis.PodUsage, f float64) { u.CPUCores = f }},
	} {
		for _, s := range v.vec {
			pod := string(s.Metric["pod"])
			if _, ok := bySubset[pod]; !ok || math.IsNaN(float64(s.Value)) {
				continue
			}
			if usage[pod] == nil {
				usage[pod] = &analysis.PodUsage{Name: pod}
			}
			v.set(usage[pod], float64(s.Value))
		}
	}
	for _, pod := range slices.Sorted(maps.Keys(usage)) {
		out[bySubset[pod]] = append(out[bySubset[pod]], *usage[pod])
	}
	return out, nil
}

// Value runs an instant query that should give one number: a scalar, or a vector of one
// sample. An empty vector is NaN (no data, no error); more than one sample or another
// type is an error.
func (p *Prometheus) Value(ctx context.Context, promql string) (float64, error) {
	if p.API == nil {
		return math.NaN(), fmt.Errorf("no Prometheus API client")
	}
	val, _, _, err := p.API.Query(ctx, promql, timeZero, p.options()...)
	if err != nil {
		return math.NaN(), fmt.Errorf("querying %s: %w", promql, err)
	}
	switch v := val.(type) {
	case *model.Scalar:
		return float64(v.Value), nil
	case model.Vector:
		switch len(v) {
		case 0:
			return math.NaN(), nil
		case 1:
			return float64(v[0].Value), nil
		}
		return math.NaN(), fmt.Errorf("query %s returned %d series, want one (aggregate it, e.g. sum(...))", promql, len(v))
	}
	return math.NaN(), fmt.Errorf("query %s returned a %s, want a scalar or one sample", promql, val.Type())
}

// vector runs an instant query that should give a vector.
func (p *Prometheus) vector(ctx context.Context, promql string) (model.Vector, error) {
	if p == nil || p.API == nil {
		return nil, fmt.Errorf("no Prometheus API client")
	}
	val, _, _, err := p.API.Query(ctx, promql, timeZero, p.options()...)
	if err != nil {
		return nil, fmt.Errorf("querying %s: %w", promql, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %s returned a %s, want an instant vector", promql, val.Type())
	}
	return vec, nil
}
