package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/sluicedev/sluice/e2e/amserver"
	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/pkg/alerts"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// heldRollout starts canary and holds it at 5 % (the first step's dwell is long).
func heldRollout(canary string) map[string]string {
	return map[string]string{
		"sluice.dev/enabled": "true", "sluice.dev/canary": canary,
		"sluice.dev/steps": "5,100", "sluice.dev/step-duration": "10m", "sluice.dev/min-requests": "20",
	}
}

// startAlertmanager runs the real Alertmanager with its webhook receiver pointed at url,
// sending the token in tokenFile.
func startAlertmanager(t *testing.T, url, tokenFile string) *amserver.Server {
	t.Helper()
	if _, err := os.Stat(amserver.Binary); err != nil {
		t.Fatalf("%v (make test installs it)", amserver.ErrMissing)
	}
	am, err := amserver.Start(context.Background(), t.TempDir(), amserver.Config{WebhookURL: url, TokenFile: tokenFile, GroupInterval: 500 * time.Millisecond})
	scenario.Must(t, err)
	t.Cleanup(am.Stop)
	return am
}

// canaryAlert is an alert about s's Service and canary, as a Prometheus rule would send it.
func (s *rollout) canaryAlert(name, canary string) amserver.Alert {
	return amserver.Alert{
		Labels:       map[string]string{"alertname": name, "namespace": s.NS, "service": s.Svc, "version": canary, "sluice_rollback": "true"},
		Annotations:  map[string]string{"summary": s.Svc + " " + canary + ": 5xx ratio 12% over 1m"},
		StartsAt:     time.Now().Add(-time.Minute).Truncate(time.Second),
		GeneratorURL: "http://prometheus.e2e/graph?g0.expr=canary_5xx_ratio",
	}
}

// alertsReceived reads sluice_alerts_received_total{result} from the controller's registry.
func alertsReceived(t *testing.T, result alerts.Result) float64 {
	t.Helper()
	mfs, err := ctrlRun.Metrics.Gather()
	scenario.Must(t, err)
	for _, mf := range mfs {
		if mf.GetName() != "sluice_alerts_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == string(result) {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// waitCounter polls until get() reaches at least want.
func waitCounter(t *testing.T, timeout time.Duration, what string, want float64, get func() float64) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for get() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s stayed at %v, want ≥ %v after %s", what, get(), want, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Issue 13: an alert posted to the real Alertmanager reaches sluice's receiver, which
// records it; the canary goes to weight 0 with reason AlertFiring, a message naming the
// alert, and one Event.
func TestAlertmanagerAlertRollsBackCanary(t *testing.T) {
	s := newRollout(t, "alert", 200, "")
	wl := s.WatchWeights("reviews")
	s.Annotate(heldRollout("v2"))
	s.WaitTS(20*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	am := startAlertmanager(t, receiverURL, receiverToken)

	alert := s.canaryAlert("ReviewsCanaryErrors", "v2")
	posted := time.Now()
	scenario.Must(t, am.Post(s.Ctx, alert))
	assertZeroWithin(t, wl, posted, "v2", 3*time.Second)
	ts := s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	d := ts.Status.LastDecision
	if d == nil || d.Reason != "AlertFiring" {
		t.Fatalf("rolled back for another reason: %s", scenario.StatusJSON(ts))
	}
	for _, frag := range []string{`"ReviewsCanaryErrors"`, "reviews v2: 5xx ratio 12% over 1m", alert.StartsAt.UTC().Format(time.RFC3339), alert.GeneratorURL} {
		if !strings.Contains(d.Message, frag) {
			t.Errorf("the decision's message %q lacks %q", d.Message, frag)
		}
	}
	if len(ts.Status.Alerts) != 1 || ts.Status.Alerts[0].ActedAt == nil || ts.Status.Alerts[0].Action != "Rollback" || ts.Status.Alerts[0].Canary != "v2" {
		t.Fatalf("alert record: %s", scenario.StatusJSON(ts))
	}
	if h := ts.Status.History; len(h) == 0 || h[0].Reason != "AlertFiring" || h[0].Result != sluicev1alpha1.PhaseRolledBack {
		t.Fatalf("history: %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "RolledBack", "AlertFiring")
	time.Sleep(time.Second) // any second rollback or Event would show by now
	if n := countEvents(s, "RolledBack"); n != 1 {
		t.Fatalf("%d RolledBack Events, want 1", n)
	}
	if ok, err := am.Counter(s.Ctx, "alertmanager_notifications_failed_total", `integration="webhook"`); err != nil || ok != 0 {
		t.Fatalf("Alertmanager's notifications failed %v times (%v)", ok, err)
	}
}

func countEvents(s *rollout, reason string) int {
	n := 0
	for _, e := range s.EventsRegarding("TrafficShift") {
		if e.Reason == reason {
			n++
		}
	}
	return n
}

// Issue 13: an Alertmanager with the wrong token is refused: its notification fails (it
// retries), and the rollout goes on untouched.
func TestAlertmanagerWrongTokenChangesNothing(t *testing.T) {
	s := newRollout(t, "alert-token", 200, "")
	s.Annotate(heldRollout("v2"))
	s.WaitTS(20*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	wrong := filepath.Join(t.TempDir(), "token")
	scenario.Must(t, os.WriteFile(wrong, []byte("not-the-token"), 0o600))
	am := startAlertmanager(t, receiverURL, wrong)
	before := alertsReceived(t, alerts.RejectedAuth)
	scenario.Must(t, am.Post(s.Ctx, s.canaryAlert("ReviewsCanaryErrors", "v2")))
	waitCounter(t, 15*time.Second, "Alertmanager's failed webhook notifications", 1, func() float64 {
		v, _ := am.Counter(s.Ctx, "alertmanager_notifications_failed_total", `integration="webhook"`)
		return v
	})
	if got := alertsReceived(t, alerts.RejectedAuth); got <= before {
		t.Fatalf("rejected-auth count %v, was %v", got, before)
	}
	ts := s.TS()
	if ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 5 || len(ts.Status.Alerts) != 0 {
		t.Fatalf("a refused alert changed the rollout: %s", scenario.StatusJSON(ts))
	}
}

// Issue 13: alerts that are resolved, about a Service without a rollout, or about no
// Service sluice knows are acknowledged and change nothing.
func TestAlertmanagerAlertsThatChangeNothing(t *testing.T) {
	s := newRollout(t, "alert-idle", 50, "")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true"})
	s.WaitTS(15*time.Second, "Idle", scenario.PhaseIs(sluicev1alpha1.PhaseIdle))
	am := startAlertmanager(t, receiverURL, receiverToken)
	base := map[alerts.Result]float64{}
	for _, r := range []alerts.Result{alerts.IgnoredNoRollout, alerts.IgnoredResolved, alerts.UnknownService} {
		base[r] = alertsReceived(t, r)
	}
	idle := s.canaryAlert("ReviewsIdleErrors", "v2")
	unknown := s.canaryAlert("NoSuchService", "v2")
	unknown.Labels["service"] = "no-such-service"
	scenario.Must(t, am.Post(s.Ctx, idle, unknown))
	waitCounter(t, 10*time.Second, "ignored-no-rollout", base[alerts.IgnoredNoRollout]+1, func() float64 { return alertsReceived(t, alerts.IgnoredNoRollout) })
	waitCounter(t, 10*time.Second, "unknown-service", base[alerts.UnknownService]+1, func() float64 { return alertsReceived(t, alerts.UnknownService) })
	idle.EndsAt = time.Now().Add(-time.Second)
	scenario.Must(t, am.Post(s.Ctx, idle))
	waitCounter(t, 10*time.Second, "ignored-resolved", base[alerts.IgnoredResolved]+1, func() float64 { return alertsReceived(t, alerts.IgnoredResolved) })
	if v, _ := am.Counter(s.Ctx, "alertmanager_notifications_failed_total", `integration="webhook"`); v != 0 {
		t.Fatalf("Alertmanager's notifications failed %v times: the receiver must acknowledge these", v)
	}
	ts := s.TS()
	if ts.Status.Phase != sluicev1alpha1.PhaseIdle || len(ts.Status.Alerts) != 0 {
		t.Fatalf("an ignorable alert changed the TrafficShift: %s", scenario.StatusJSON(ts))
	}
}

// Issue 13: the receiving replica is not the one that acts, and a restart between the
// acknowledgement and the action loses nothing. A second replica, serving only the
// receiver as a non-leader replica does, records the alert (three times: Alertmanager
// repeats) while no controller runs; the controller, started again, rolls the canary
// back once, with one Event.
func TestAlertRecordedByAnotherReplicaSurvivesRestart(t *testing.T) {
	s := newRollout(t, "alert-ha", 200, "")
	wl := s.WatchWeights("reviews")
	s.Annotate(heldRollout("v2"))
	s.WaitTS(20*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })

	replica := startReplicaReceiver(t)
	scenario.Must(t, stopController())
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			scenario.Must(t, startController())
		}
	})
	payload := webhookPayload(t, s.canaryAlert("ReviewsCanaryErrors", "v2"))
	for i, want := range []alerts.Result{alerts.Acted, alerts.Repeat, alerts.Repeat} {
		code, reply := postWebhook(t, replica, receiverTokenValue(t), payload)
		if code != http.StatusOK || len(reply.Alerts) != 1 || reply.Alerts[0].Result != want {
			t.Fatalf("call %d: %d %+v, want 200 %s", i, code, reply, want)
		}
	}
	ts := s.TS()
	if len(ts.Status.Alerts) != 1 || ts.Status.Alerts[0].ActedAt != nil || ts.Status.Weight != 5 {
		t.Fatalf("before the controller runs: %s", scenario.StatusJSON(ts))
	}
	started := time.Now()
	scenario.Must(t, startController())
	restarted = true
	zero, ok := time.Time{}, false
	for deadline := time.Now().Add(10 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		zero, ok = wl.FirstAfter(started, "v2", 0)
	}
	if !ok {
		t.Fatalf("the recorded alert was not acted on after the restart; seq %v", wl.CanarySeq("v2"))
	}
	t.Logf("controller start → canary weight 0 for the alert recorded while it was down: %s", zero.Sub(started).Round(time.Millisecond))
	ts = s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	if ts.Status.LastDecision.Reason != "AlertFiring" {
		t.Fatalf("status: %s", scenario.StatusJSON(ts))
	}
	time.Sleep(time.Second)
	if n := countEvents(s, "RolledBack"); n != 1 {
		t.Fatalf("%d RolledBack Events, want 1", n)
	}
}

// Issue 13: bad calls get clear answers and change nothing.
func TestAlertReceiverBadInput(t *testing.T) {
	s := newRollout(t, "alert-bad", 200, "")
	s.Annotate(heldRollout("v2"))
	s.WaitTS(20*time.Second, "step 1 (5 %)", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	token := receiverTokenValue(t)
	good := webhookPayload(t, s.canaryAlert("ReviewsCanaryErrors", "v2"))
	tests := map[string]struct {
		method, token string
		body          []byte
		want          int
	}{
		"no token":          {token: "", body: good, want: http.StatusUnauthorized},
		"wrong token":       {token: "nope", body: good, want: http.StatusUnauthorized},
		"GET":               {method: http.MethodGet, token: token, want: http.StatusMethodNotAllowed},
		"over 1 MiB":        {token: token, body: bytes.Repeat([]byte(" "), alerts.MaxBody+1), want: http.StatusRequestEntityTooLarge},
		"invalid JSON":      {token: token, body: []byte("{not json"), want: http.StatusBadRequest},
		"payload version 3": {token: token, body: bytes.Replace(good, []byte(`"version":"4"`), []byte(`"version":"3"`), 1), want: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, receiverURL, bytes.NewReader(tc.body))
			scenario.Must(t, err)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			scenario.Must(t, err)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %d, want %d", name, resp.StatusCode, tc.want)
			}
		})
	}
	time.Sleep(time.Second)
	if ts := s.TS(); ts.Status.Phase != sluicev1alpha1.PhaseProgressing || ts.Status.Weight != 5 || len(ts.Status.Alerts) != 0 {
		t.Fatalf("bad calls changed the rollout: %s", scenario.StatusJSON(ts))
	}
}

// startReplicaReceiver serves the receiver as another replica of the controller would
// while it is not the leader: the receiver alone, with its own client. It returns its URL.
func startReplicaReceiver(t *testing.T) string {
	t.Helper()
	auth, err := alerts.NewAuthenticator(alerts.Credentials{TokenFile: receiverToken})
	scenario.Must(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	scenario.Must(t, err)
	addr := l.Addr().String()
	_ = l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &alerts.Server{Addr: addr, Log: logr.Discard(), Handler: &alerts.Handler{
		Auth: auth, Selector: alerts.DefaultSelector(), Log: logr.Discard(),
		Store: &alerts.Store{Client: env.Client, Reader: env.Client, Clock: clock.RealClock{}},
	}}
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	url := "http://" + addr + alerts.Path
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return url
		}
	}
	t.Fatal("the replica's receiver did not come up")
	return ""
}

func receiverTokenValue(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(receiverToken)
	scenario.Must(t, err)
	return strings.TrimSpace(string(b))
}

// webhookPayload is the payload Alertmanager would send for alert (the captured one's
// shape, with this alert in it).
func webhookPayload(t *testing.T, a amserver.Alert) []byte {
	t.Helper()
	var m map[string]any
	data, err := os.ReadFile(filepath.Join("..", "testdata", "alertmanager", "webhook-v4-firing.json"))
	scenario.Must(t, err)
	scenario.Must(t, json.Unmarshal(data, &m))
	alert := m["alerts"].([]any)[0].(map[string]any)
	alert["labels"], alert["annotations"] = a.Labels, a.Annotations
	alert["startsAt"], alert["generatorURL"] = a.StartsAt.UTC().Format(time.RFC3339), a.GeneratorURL
	alert["fingerprint"] = fmt.Sprintf("%016x", a.StartsAt.UnixNano())
	m["commonLabels"] = a.Labels
	out, err := json.Marshal(m)
	scenario.Must(t, err)
	return out
}

func postWebhook(t *testing.T, url, token string, body []byte) (int, alerts.Reply) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	scenario.Must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	scenario.Must(t, err)
	defer resp.Body.Close()
	var reply alerts.Reply
	_ = json.NewDecoder(resp.Body).Decode(&reply)
	return resp.StatusCode, reply
}
