package node_test

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrapeSluice reads a sluice pod's own /metrics (port 8080, served by every replica,
// leader or not).
func scrapeSluice(podIP string) (map[string]*dto.MetricFamily, error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + net.JoinHostPort(podIP, "8080") + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics of %s: %s", podIP, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// leading reports controller-runtime's leader_election_master_status of sluice's
// election in the pod at podIP.
func leading(t *testing.T, podIP string) bool {
	t.Helper()
	mf, err := scrapeSluice(podIP)
	if err != nil {
		t.Fatalf("scraping sluice's metrics: %v", err)
	}
	for _, m := range mf["leader_election_master_status"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "name" && l.GetValue() == leaseName {
				return m.GetGauge().GetValue() == 1
			}
		}
	}
	return false
}

// ticks is how many ticks of an active rollout the pod at podIP has run: the count of
// sluice_tick_duration_seconds, which only the leader's reconciles observe.
func ticks(podIP string) (uint64, error) {
	mf, err := scrapeSluice(podIP)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, m := range mf["sluice_tick_duration_seconds"].GetMetric() {
		n += m.GetHistogram().GetSampleCount()
	}
	return n, nil
}
