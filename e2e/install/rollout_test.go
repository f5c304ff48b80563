package install

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/sluicedev/sluice/e2e/standin"
	"github.com/sluicedev/sluice/pkg/alerts"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/record"
)

// TestRolloutAsServiceAccount: the controller, authenticated as the manifests'
// ServiceAccount and allowed only what rbac.yaml grants, promotes a healthy canary, rolls a
// failing one back, and rolls one back on an Alertmanager alert its receiver records; its
// notification sink reads the one Secret it may read. No request of its is refused, and
// the Deployments are never written.
func TestRolloutAsServiceAccount(t *testing.T) {
	controllerAsServiceAccount(t)
	s := newService(t, "shop", "127.0.150.", 1)
	deps := s.deployments()
	healthy := standin.SubsetBehaviour{ErrorRate: 0.002, LatencyP50: 20 * time.Millisecond, LatencyP99: 80 * time.Millisecond}
	for _, v := range []string{"v1", "v2", "v3"} {
		s.fleet.SetBehaviour(v, healthy)
	}

	s.annotate(map[string]any{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2",
		"sluice.dev/steps": "5,50,100", "sluice.dev/step-duration": "2s", "sluice.dev/min-requests": "20"})
	ts := s.waitTS(60*time.Second, "promotion of v2", phaseIs(sluicev1alpha1.PhasePromoted))
	if ts.Status.Stable != "v2" || len(ts.Status.History) != 1 {
		t.Fatalf("promoted status: stable %q, history %d", ts.Status.Stable, len(ts.Status.History))
	}
	s.wantWeights("promoted", map[string]int32{"v2": 100})
	waitRecord(t, record.Promoted, s.ns)

	s.fleet.SetBehaviour("v3", standin.SubsetBehaviour{ErrorRate: 0.5})
	s.annotate(map[string]any{"sluice.dev/canary": "v3"})
	ts = s.waitTS(30*time.Second, "rollback of v3", phaseIs(sluicev1alpha1.PhaseRolledBack))
	if d := ts.Status.LastDecision; d == nil || d.Reason != reason.ErrorRate {
		t.Fatalf("rolled back with %+v, want reason %s", d, reason.ErrorRate)
	}
	s.wantWeights("rolled back", map[string]int32{"v2": 100})
	waitRecord(t, record.RolledBack, s.ns)

	// v3 again, healthy now and held at 5 %, until an alert names it.
	s.fleet.SetBehaviour("v3", healthy)
	s.annotate(map[string]any{"sluice.dev/retry": "v3@1", "sluice.dev/steps": "5,100", "sluice.dev/step-duration": "10m"})
	s.waitTS(30*time.Second, "v3 retried at 5 %", func(ts *sluicev1alpha1.TrafficShift) bool {
		return ts.Status.Phase == sluicev1alpha1.PhaseProgressing && ts.Status.Weight == 5 && ts.Status.LastRetry == "v3@1"
	})
	if code := postAlert(t, s.ns, "v3"); code != http.StatusOK {
		t.Fatalf("the receiver answered %d", code)
	}
	ts = s.waitTS(10*time.Second, "rollback on the alert", phaseIs(sluicev1alpha1.PhaseRolledBack))
	if d := ts.Status.LastDecision; d == nil || d.Reason != reason.AlertFiring {
		t.Fatalf("rolled back with %+v, want reason %s", d, reason.AlertFiring)
	}
	s.wantWeights("rolled back on the alert", map[string]int32{"v2": 100})

	if after := s.deployments(); after != deps {
		t.Fatalf("the Deployments were written: %s → %s", deps, after)
	}
}

// waitRecord waits for the notification sink to receive a record of event.
func waitRecord(t *testing.T, event record.Event, ns string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !sinkRecords.has(event, ns, serviceName); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the notification sink received no %s record for %s/%s (its Secret unreadable?)", event, ns, serviceName)
		}
	}
}

// postAlert sends the receiver a firing alert about the Service's canary, as Alertmanager
// would (payload version 4, the Bearer token of the mounted Secret).
func postAlert(t *testing.T, ns, canary string) int {
	t.Helper()
	labels := template.KV{"alertname": "CanaryHighErrorRate", "namespace": ns, "service": serviceName, "version": canary}
	msg := alerts.Message{Version: alerts.PayloadVersion, GroupKey: `{}:{alertname="CanaryHighErrorRate"}`, Data: &template.Data{
		Receiver: "sluice", Status: "firing", GroupLabels: template.KV{"alertname": "CanaryHighErrorRate"}, CommonLabels: labels,
		ExternalURL: "http://alertmanager.install-e2e:9093",
		Alerts: template.Alerts{{Status: "firing", Labels: labels, Annotations: template.KV{"summary": "v3: 5xx ratio 12% over 1m"},
			StartsAt: time.Now().Add(-time.Minute).Truncate(time.Second), GeneratorURL: "http://prometheus.install-e2e/graph", Fingerprint: "5e1f0c2a9b7d4e31"}},
	}}
	body, err := json.Marshal(msg)
	must(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, receiverURL, bytes.NewReader(body))
	must(t, err)
	req.Header.Set("Authorization", "Bearer "+receiverToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}
