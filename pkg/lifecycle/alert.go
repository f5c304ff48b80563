package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
)

// alertCheck: a firing Alertmanager alert recorded for the canary of a rollout that
// carries traffic rolls it back (or pauses it, or is acknowledged and ignored, as the
// policy or sluice.dev/on-alert say). Only alerts recorded during this rollout count, each
// once.
func alertCheck(w World) (Transition, bool) {
	st := w.Status
	if !Active(st.Phase) || st.Weight <= 0 || st.Canary != w.Canary {
		return Transition{}, false
	}
	alerts := firing(st)
	if len(alerts) == 0 {
		return Transition{}, false
	}
	t := Transition{Reason: reason.AlertFiring, Message: describeAlerts(alerts), Stable: w.Stable, Canary: w.Canary,
		Weight: st.Weight, Step: st.Step, Phase: st.Phase}
	for _, a := range alerts {
		t.Alerts = append(t.Alerts, a.Fingerprint)
	}
	switch {
	case w.Spec.OnAlert == v1alpha1.AlertIgnore:
		t.Kind, t.Reason, t.AlertAction = AcknowledgeAlert, reason.AlertIgnored, string(v1alpha1.AlertIgnore)
		t.Events = []Event{{Reason: reason.AlertIgnored, Action: "Alert", Note: t.Message + "; alerts are ignored for this Service"}}
	case w.Spec.OnAlert == v1alpha1.AlertPause && st.Phase == v1alpha1.PhasePaused:
		t.Kind, t.AlertAction = AcknowledgeAlert, string(v1alpha1.AlertPause)
		t.Events = []Event{{Warning: true, Reason: reason.AlertFiring, Action: "Alert", Note: t.Message + "; the rollout stays paused"}}
	case w.Spec.OnAlert == v1alpha1.AlertPause:
		t.Kind, t.Phase, t.PausedReason, t.AlertAction = Pause, v1alpha1.PhasePaused, reason.AlertFiring, string(v1alpha1.AlertPause)
		t.Events = []Event{{Warning: true, Reason: reason.Paused, Action: "Pause",
			Note: fmt.Sprintf("rollout of %q paused at weight %d: %s", w.Canary, st.Weight, t.Message)}}
	default:
		t.Kind, t.Weight, t.Phase, t.AlertAction = Rollback, 0, v1alpha1.PhaseRolledBack, string(v1alpha1.AlertRollback)
		t.Events = []Event{{Warning: true, Reason: reason.RolledBack, Action: "Rollback",
			Note: fmt.Sprintf("canary %q rolled back (%s): %s", w.Canary, reason.AlertFiring, t.Message)}}
	}
	return t, true
}

// firing lists the alert records of st's rollout not acted on yet: recorded for its
// canary since it started.
func firing(st v1alpha1.TrafficShiftStatus) []v1alpha1.AlertRecord {
	var out []v1alpha1.AlertRecord
	for _, a := range st.Alerts {
		if a.ActedAt != nil || a.Canary != st.Canary {
			continue
		}
		if st.RolloutStartedAt != nil && a.ReceivedAt.Before(st.RolloutStartedAt) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// describeAlerts names each alert with its summary, since when it fires and where from.
func describeAlerts(alerts []v1alpha1.AlertRecord) string {
	parts := make([]string, len(alerts))
	for i, a := range alerts {
		s := fmt.Sprintf("alert %q firing since %s", a.Name, a.StartsAt.UTC().Format(time.RFC3339))
		if a.Summary != "" {
			s += ": " + a.Summary
		}
		if a.GeneratorURL != "" {
			s += " (" + a.GeneratorURL + ")"
		}
		parts[i] = s
	}
	return strings.Join(parts, "; ")
}
