package source

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// requestCounts folds a request-counter vector into per-subset counts.
func requestCounts(vec model.Vector, q Queries) (map[string]traffic.Counts, error) {
	out := map[string]traffic.Counts{}
	for _, s := range vec {
		v, err := counter(float64(s.Value))
		if err != nil {
			return nil, fmt.Errorf("request counter %s: %w", s.Metric, err)
		}
		subset := string(s.Metric[model.LabelName(q.SubsetLabel)])
		c := out[subset]
		c.Requests += v
		class := codeClass(string(s.Metric[model.LabelName(q.CodeLabel)]))
		if class == 2 && traffic.GRPCServerFailure(string(s.Metric[model.LabelName(q.GRPCStatusLabel)])) {
			class = 5
		}
		switch class {
		case 2:
			c.Rq2xx += v
		case 3:
			c.Rq3xx += v
		case 4:
			c.Rq4xx += v
		case 5:
			c.Rq5xx += v
		}
		out[subset] = c
	}
	return out, nil
}

// addLatency folds a bucket vector (by subset and le) into the subsets' Latency.
func addLatency(counts map[string]traffic.Counts, vec model.Vector, q Queries) error {
	type bucket struct {
		le float64
		n  uint64
	}
	per := map[string][]bucket{}
	for _, s := range vec {
		le, err := strconv.ParseFloat(string(s.Metric[model.BucketLabel]), 64)
		if err != nil || math.IsNaN(le) {
			return fmt.Errorf("latency bucket %s: bad %q label", s.Metric, model.BucketLabel)
		}
		n, err := counter(float64(s.Value))
		if err != nil {
			return fmt.Errorf("latency bucket %s: %w", s.Metric, err)
		}
		subset := string(s.Metric[model.LabelName(q.SubsetLabel)])
		per[subset] = append(per[subset], bucket{le, n})
	}
	for subset, bs := range per {
		slices.SortFunc(bs, func(a, b bucket) int {
			if a.le < b.le {
				return -1
			}
			if a.le > b.le {
				return 1
			}
			return 0
		})
		var h traffic.Histogram
		var prev uint64
		for _, b := range bs {
			n := max(b.n, prev) // buckets are cumulative; repair like histogram_quantile
			prev = n
			if math.IsInf(b.le, +1) {
				continue
			}
			if k := len(h.Bounds); k > 0 && h.Bounds[k-1] == b.le*q.LatencyUnit {
				h.Counts[k-1] = n // duplicate le: keep the larger
				continue
			}
			h.Bounds = append(h.Bounds, b.le*q.LatencyUnit)
			h.Counts = append(h.Counts, n)
		}
		h.Count = prev
		c := counts[subset]
		c.Latency = h
		counts[subset] = c
	}
	return nil
}

// counter converts a sample value to a count: finite, non-negative, rounded.
func counter(v float64) (uint64, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v >= 1<<63 {
		return 0, fmt.Errorf("value %v is not a count", v)
	}
	return uint64(math.Round(v)), nil
}

// codeClass is the first digit of a 3-digit HTTP status code, 0 for anything else.
func codeClass(code string) int {
	if len(code) != 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return 0
	}
	return int(code[0] - '0')
}

// addLatencySum sets the subsets' Latency.Sum from a vector by subset, in milliseconds.
func addLatencySum(counts map[string]traffic.Counts, vec model.Vector, q Queries) error {
	for _, s := range vec {
		v := float64(s.Value)
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return fmt.Errorf("latency sum %s: value %v is not a duration sum", s.Metric, v)
		}
		subset := string(s.Metric[model.LabelName(q.SubsetLabel)])
		c, ok := counts[subset]
		if !ok {
			continue // no requests, no histogram: nothing to add a sum to
		}
		c.Latency.Sum += v * q.LatencyUnit
		counts[subset] = c
	}
	return nil
}
