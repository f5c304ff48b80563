package envoy

import (
	"encoding/json"
	"fmt"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// jsonPage is Envoy's /stats?format=json.
type jsonPage struct {
	Stats *[]jsonStat `json:"stats"`
}

type jsonStat struct {
	Name       string          `json:"name"`
	Value      json.RawMessage `json:"value"`
	Histograms *jsonHistograms `json:"histograms"`
}

type jsonHistograms struct {
	SupportedQuantiles []float64 `json:"supported_quantiles"`
	ComputedQuantiles  []struct {
		Name   string `json:"name"`
		Values []struct {
			Interval   *float64 `json:"interval"`
			Cumulative *float64 `json:"cumulative"`
		} `json:"values"`
	} `json:"computed_quantiles"`
}

func parseJSON(data []byte, q Query) (Report, error) {
	set, err := scanJSON(data, keepHost(q.Host))
	if err != nil {
		return Report{}, err
	}
	if q.Side != Source {
		// Istio's standard metrics are only read from /stats/prometheus.
		return Report{Subsets: map[string]traffic.Counts{}}, nil
	}
	return clusterReport(set, q), nil
}

// scanJSON reads /stats?format=json; the quantiles are read by position from the
// page's own supported_quantiles (9 or 10 of them depending on the Envoy version).
func scanJSON(data []byte, keep func([]byte) bool) (*clusterSet, error) {
	var page jsonPage
	if err := json.Unmarshal(data, &page); err != nil {
		return nil, fmt.Errorf("parsing json stats: %w", err)
	}
	if page.Stats == nil {
		return nil, fmt.Errorf("parsing json stats: no \"stats\" array: %w", ErrUnknownFormat)
	}
	sink := newStatSink(keep)
	for _, st := range *page.Stats {
		if st.Histograms != nil {
			addJSONHistograms(sink, st.Histograms)
			continue
		}
		acc, rest := sink.accFor([]byte(st.Name))
		if acc == nil || len(st.Value) == 0 || st.Value[0] == '"' {
			continue // not read, or a text readout
		}
		var f float64
		if err := json.Unmarshal(st.Value, &f); err != nil {
			return nil, fmt.Errorf("parsing json stats: %s: %w", st.Name, err)
		}
		v, err := toCount(f)
		if err != nil {
			return nil, fmt.Errorf("parsing json stats: %s: %w", st.Name, err)
		}
		acc.addRqStat(rest, v)
	}
	return sink.set, nil
}

func addJSONHistograms(sink *statSink, h *jsonHistograms) {
	for _, cq := range h.ComputedQuantiles {
		acc, rest := sink.accFor([]byte(cq.Name))
		if acc == nil || string(rest) != "time" {
			continue
		}
		for i, v := range cq.Values {
			if i >= len(h.SupportedQuantiles) || v.Cumulative == nil {
				continue
			}
			setQuantile(acc, h.SupportedQuantiles[i], *v.Cumulative)
		}
	}
}
