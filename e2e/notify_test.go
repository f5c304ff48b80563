package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify/notifytest"
	"github.com/sluicedev/sluice/pkg/record"
)

// sinkSecret stores a receiver's URL, secret and token in sluice's namespace.
func sinkSecret(t *testing.T, name string, r *notifytest.Receiver) {
	t.Helper()
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: notifyNamespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: notifyNamespace},
		StringData: map[string]string{"url": r.URL, "secret": r.Secret, "token": r.Token}}
	scenario.Must(t, env.Client.Create(ctx, sec))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sec) })
}

// Issue 14: a promotion and a rollback produce exactly one message per transition in
// each sink, in its own format, with the release context and the numbers; a sink that
// flaps gets retries and no duplicate.
func TestNotificationsPerTransition(t *testing.T) {
	sinks := map[string]*notifytest.Receiver{
		"chat":    notifytest.NewReceiver(t, sluicev1alpha1.SinkSlack, "", ""),
		"robot":   notifytest.NewReceiver(t, sluicev1alpha1.SinkWeCom, "", ""),
		"lark":    notifytest.NewReceiver(t, sluicev1alpha1.SinkFeishu, "e2e-feishu-secret", ""),
		"ding":    notifytest.NewReceiver(t, sluicev1alpha1.SinkDingTalk, "SECe2e-dingtalk-secret", ""),
		"events":  notifytest.NewReceiver(t, sluicev1alpha1.SinkCloudEvents, "", "e2e-ce-token"),
		"records": notifytest.NewReceiver(t, sluicev1alpha1.SinkWebhook, "", "e2e-hook-token"),
	}
	// The chat sink flaps: a 503, then a 429 with Retry-After, before it takes messages.
	sinks["chat"].Next(notifytest.Answer{Status: 503}, notifytest.Answer{Status: 429, RetryAfter: "1"})
	var notify []sluicev1alpha1.NotifySink
	for name, r := range sinks {
		secret := "e2e-sink-" + name
		sinkSecret(t, secret, r)
		notify = append(notify, sluicev1alpha1.NotifySink{Name: name, Type: r.Type, SecretRef: secret})
	}
	policy := &sluicev1alpha1.ShiftPolicy{ObjectMeta: metav1.ObjectMeta{Name: "e2e-notify"},
		Spec: sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 20}, {Weight: 100}}, Notify: notify}}
	scenario.Must(t, env.Client.Create(context.Background(), policy))
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), policy) })

	s := newRollout(t, "notify", 200, "")
	release := map[string]string{
		"sluice.dev/enabled": "true", "sluice.dev/policy": "e2e-notify", "sluice.dev/step-duration": "2s", "sluice.dev/min-requests": "20",
		"sluice.dev/canary": "v2", "sluice.dev/release-canary": "v2", "sluice.dev/release-commit": "3f9c1e2a",
		"sluice.dev/release-pipeline": "build 4711", "sluice.dev/release-url": "https://ci.example.com/4711", "sluice.dev/release-by": "ci-bot",
	}
	s.Annotate(release)
	s.WaitTS(30*time.Second, "Promoted", scenario.PhaseIs(sluicev1alpha1.PhasePromoted))
	// The next release, as kubectl sluice release writes it: the context it does not set is removed.
	s.Annotate(map[string]string{"sluice.dev/canary": "v3", "sluice.dev/release-canary": "v3", "sluice.dev/release-commit": "9e1d04b7",
		"sluice.dev/release-pipeline": "build 4712", "sluice.dev/release-url": "", "sluice.dev/release-by": ""})
	s.WaitTS(20*time.Second, "v3 step 1", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Canary == "v3" && ts.Status.Weight == 20 })
	s.Fleet.SetBehaviour("v3", standin.SubsetBehaviour{ErrorRate: 1})
	s.WaitTS(15*time.Second, "v3 RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))

	// v2: started, step-advanced, promoted; v3: started, rolled-back.
	want := []record.Event{record.Started, record.StepAdvanced, record.Promoted, record.Started, record.RolledBack}
	records := sinks["records"].WaitAccepted(t, len(want), 30*time.Second)
	var ids []string
	for i, a := range records {
		rec := a.Message.Record
		if rec == nil || rec.Event != want[i] || rec.Namespace != s.NS || rec.Service != "reviews" || rec.Cluster != "e2e" {
			t.Fatalf("webhook record %d: %+v, want event %s", i, rec, want[i])
		}
		ids = append(ids, rec.ID)
	}
	promoted, rolledBack := records[2].Message.Record, records[4].Message.Record
	if promoted.Release.Commit != "3f9c1e2a" || promoted.Release.Pipeline != "build 4711" || promoted.Release.By != "ci-bot" ||
		promoted.To.Subset != "v2" || len(promoted.To.Images) == 0 || promoted.Weight.After != 100 {
		t.Fatalf("promotion record lacks the release: %+v", promoted)
	}
	if rolledBack.Release.Commit != "9e1d04b7" || rolledBack.Release.URL != "" || rolledBack.Reason != "ErrorRate" ||
		rolledBack.Window == nil || rolledBack.Window.Canary.Errors == 0 || rolledBack.Weight.Before != 20 || rolledBack.Times.FaultAt == nil {
		t.Fatalf("rollback record lacks the release or the numbers: %+v", rolledBack)
	}
	for name, r := range sinks {
		got := r.WaitAccepted(t, len(want), 30*time.Second)
		time.Sleep(500 * time.Millisecond)
		if n := len(r.Accepted()); n != len(want) {
			t.Errorf("sink %s took %d messages, want exactly %d (one per transition)", name, n, len(want))
		}
		last := got[len(got)-1].Message
		text := last.Text
		if last.Record != nil {
			text = fmt.Sprintf("%+v", *last.Record)
		}
		for _, frag := range []string{"9e1d04b7", "v3"} {
			if !strings.Contains(text, frag) {
				t.Errorf("sink %s: the rollback message lacks %q:\n%s", name, frag, text)
			}
		}
		if last.Record == nil && !strings.Contains(text, "ErrorRate") && !strings.Contains(strings.ToLower(text), "rolled back") {
			t.Errorf("sink %s: the rollback message does not say it rolled back:\n%s", name, text)
		}
	}
	if n := len(sinks["chat"].Arrivals()); n < len(want)+2 {
		t.Errorf("the flapping sink got %d requests: no retries?", n)
	}
	if ce := sinks["events"].Accepted(); ce[4].Message.EventType != "dev.cdevents.service.rolledback.0.3.0" || ce[2].Message.EventType != "dev.cdevents.service.deployed.0.3.0" ||
		!slices.Contains(ids, ce[4].Message.EventID) {
		t.Errorf("CloudEvents types/ids: %s %s %s", ce[2].Message.EventType, ce[4].Message.EventType, ce[4].Message.EventID)
	}
}
