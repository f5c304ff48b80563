package controller

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/notify"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/record"
)

// Notifier sends a record to sinks without waiting (notify.Notifier).
type Notifier interface {
	Send(rec record.Record, sinks []notify.Sink)
}

// NotifyConfig is where notifications go besides each policy's own sinks.
type NotifyConfig struct {
	// Namespace holds the Secrets the sinks name (sluice's own namespace).
	Namespace string
	// Defaults are sent every record, whatever the policy (--notify).
	Defaults []sluicev1alpha1.NotifySink
}

// SinkName is the name a sink has in metrics, logs and Events: the policy it comes from
// (or "default" for the controller's own) and its name there.
func SinkName(policy, sink string) string { return policy + "/" + sink }

// sinks resolves the sinks of w's policy and the defaults, reading their Secrets. A sink
// that cannot be resolved is logged and left out: a notification never blocks a rollout.
func (r *Reconciler) sinks(ctx context.Context, w *world) []notify.Sink {
	var out []notify.Sink
	add := func(owner string, specs []sluicev1alpha1.NotifySink) {
		for _, s := range specs {
			sink, err := r.resolveSink(ctx, owner, s)
			if err != nil {
				log.FromContext(ctx).Error(err, "notification sink left out", "sink", SinkName(owner, s.Name))
				continue
			}
			out = append(out, sink)
		}
	}
	add(w.spec.PolicyName, w.spec.Notify)
	add("default", r.Notify.Defaults)
	return out
}

// resolveSink reads the sink's Secret (uncached: only named Secrets are readable) and
// checks its template.
func (r *Reconciler) resolveSink(ctx context.Context, owner string, s sluicev1alpha1.NotifySink) (notify.Sink, error) {
	sink := notify.Sink{Name: SinkName(owner, s.Name), Type: s.Type, Template: s.Template}
	for _, e := range s.Events {
		sink.Events = append(sink.Events, record.Event(e))
	}
	if s.Template != "" {
		if err := notify.CheckTemplate(s.Template); err != nil {
			return sink, fmt.Errorf("template of sink %s: %w", sink.Name, err)
		}
	}
	sec := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: r.Notify.Namespace, Name: s.SecretRef}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return sink, fmt.Errorf("sink %s: Secret %s/%s does not exist", sink.Name, r.Notify.Namespace, s.SecretRef)
		}
		return sink, fmt.Errorf("sink %s: reading Secret %s/%s: %w", sink.Name, r.Notify.Namespace, s.SecretRef, err)
	}
	sink.URL = strings.TrimSpace(string(sec.Data["url"]))
	sink.Secret = strings.TrimSpace(string(sec.Data["secret"]))
	sink.Token = strings.TrimSpace(string(sec.Data["token"]))
	if sink.URL == "" {
		return sink, fmt.Errorf("sink %s: Secret %s/%s has no url", sink.Name, r.Notify.Namespace, s.SecretRef)
	}
	return sink, nil
}

// ParseSink reads a --notify flag value: name=N,type=T,secret=S[,events=a|b][,template=…].
func ParseSink(v string) (sluicev1alpha1.NotifySink, error) {
	var s sluicev1alpha1.NotifySink
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return s, fmt.Errorf("%q: expected key=value", kv)
		}
		switch k {
		case "name":
			s.Name = val
		case "type":
			s.Type = sluicev1alpha1.SinkType(val)
		case "secret":
			s.SecretRef = val
		case "events":
			s.Events = strings.Split(val, "|")
		default:
			return s, fmt.Errorf("%q: unknown key %q (name, type, secret, events)", v, k)
		}
	}
	switch {
	case s.Name == "" || s.SecretRef == "":
		return s, fmt.Errorf("%q: name and secret are required", v)
	case !validSinkType(s.Type):
		return s, fmt.Errorf("%q: type %q is not one of slack, wecom, feishu, dingtalk, cloudevents, webhook", v, s.Type)
	}
	for _, e := range s.Events {
		if !validEvent(e) {
			return s, fmt.Errorf("%q: event %q is not one of %v", v, e, record.Events())
		}
	}
	return s, nil
}

func validSinkType(t sluicev1alpha1.SinkType) bool {
	switch t {
	case sluicev1alpha1.SinkSlack, sluicev1alpha1.SinkWeCom, sluicev1alpha1.SinkFeishu, sluicev1alpha1.SinkDingTalk,
		sluicev1alpha1.SinkCloudEvents, sluicev1alpha1.SinkWebhook:
		return true
	}
	return false
}

func validEvent(e string) bool {
	for _, known := range record.Events() {
		if string(known) == e {
			return true
		}
	}
	return false
}

// SinkFailing is what the notifier calls when a sink has been failing for a minute: a
// Warning Event regarding the ShiftPolicy the sink belongs to. The controller's own sinks
// have no object to regard; they are logged and counted.
func (r *Reconciler) SinkFailing(sink string, since time.Time, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	log.FromContext(ctx).Error(err, "notification sink failing", "sink", sink, "since", since)
	policy, name, _ := strings.Cut(sink, "/")
	p := &sluicev1alpha1.ShiftPolicy{}
	if r.Recorder == nil || r.Client.Get(ctx, client.ObjectKey{Name: policy}, p) != nil {
		return
	}
	r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, reason.NotificationSinkFailing, "Notify",
		"sink %s of ShiftPolicy %s has been failing since %s: %s", name, policy, since.UTC().Format(time.RFC3339), truncate(err.Error(), 512))
}
