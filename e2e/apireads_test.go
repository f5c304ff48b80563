package e2e

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// apiRequests reads the API server's own request counter and sums it by
// "verb resource/subresource" for sluice's kinds.
func apiRequests(t *testing.T) map[string]float64 {
	t.Helper()
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(t.Context())
	if err != nil {
		t.Fatalf("reading the API server's metrics: %v", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parsing the API server's metrics: %v", err)
	}
	out := map[string]float64{}
	for _, m := range families["apiserver_request_total"].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		switch l["resource"] {
		case "trafficshifts", "virtualservices":
			k := l["verb"] + " " + l["resource"]
			if l["subresource"] != "" {
				k += "/" + l["subresource"]
			}
			out[k] += m.GetCounter().GetValue()
		}
	}
	return out
}

// TestTicksReadFromTheCache holds a rollout at its first step and counts, on the API
// server, the requests for TrafficShifts and VirtualServices over twelve ticks: the ticks
// write the status window (every 5 s) but read nothing, because sluice reads them from
// its cache and knows its own last write (pkg/ownwrites).
func TestTicksReadFromTheCache(t *testing.T) {
	s := newRollout(t, "cachereads", 200, "")
	healthy := standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond}
	s.Fleet.SetBehaviour("v1", healthy)
	s.Fleet.SetBehaviour("v2", healthy)
	ann := fastRollout("v2")
	ann["sluice.dev/step-duration"] = "10m"
	s.Annotate(ann)
	s.WaitTS(30*time.Second, "step 1 at 5%", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5 && ts.Status.Window != nil
	})
	before := apiRequests(t)
	time.Sleep(6 * time.Second) // twelve 500 ms ticks, one status refresh at least; nothing in this test reads meanwhile
	after := apiRequests(t)
	delta := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			delta[k] = d
		}
	}
	t.Logf("API requests for sluice's kinds over 6 s of ticks: %v", delta)
	for _, k := range []string{"GET trafficshifts", "GET virtualservices", "LIST virtualservices", "LIST trafficshifts"} {
		if delta[k] > 0 {
			t.Errorf("%s: %.0f requests in 6 s of ticks; the cache should have answered", k, delta[k])
		}
	}
	if delta["PUT trafficshifts/status"] < 1 {
		t.Errorf("no status write in 6 s: the rollout was not ticking (requests %v)", delta)
	}
	if ts := s.TS(); ts.Status.Weight != 5 || ts.Status.Phase != sluicev1alpha1.PhaseProgressing {
		t.Fatalf("the rollout moved while held: %s", scenario.StatusJSON(ts))
	}
}
