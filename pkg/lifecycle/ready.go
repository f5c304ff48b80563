package lifecycle

import (
	"fmt"
	"strings"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
)

// waitForCanary is the health gate before the first step: every canary pod, and at least
// the policy's minReadyPods, must be Ready (their readiness probes are the application's
// /readyz, through Istio's probe rewrite). Until then the rollout waits in phase
// WaitingForCanary, writing nothing; after the policy's readyTimeout it pauses or rolls
// back. waiting is false once the canary is ready.
func waitForCanary(w World) (t Transition, waiting bool) {
	r, g := w.CanaryPods, w.Spec.Readiness
	need := max(int(g.MinReadyPods), 1)
	if r.Ready >= need && r.Ready == r.Total {
		return Transition{}, false
	}
	st := w.Status
	since := w.Now
	if st.Phase == v1alpha1.PhaseWaitingForCanary && st.Canary == w.Canary && st.WaitingSince != nil {
		since = st.WaitingSince.Time
	}
	msg := fmt.Sprintf("canary %q: %d of %d pods Ready, %d needed and all of them", w.Canary, r.Ready, r.Total, need)
	if len(r.NotReady) > 0 {
		msg += " (not Ready: " + strings.Join(r.NotReady, "; ") + ")"
	}
	t = Transition{Kind: WaitForCanary, Reason: reason.WaitingForCanary, Message: msg, Stable: w.Stable, Canary: w.Canary,
		Phase: v1alpha1.PhaseWaitingForCanary}
	if g.Timeout <= 0 || w.Now.Sub(since) <= g.Timeout {
		if st.Phase != v1alpha1.PhaseWaitingForCanary || st.Canary != w.Canary {
			t.Events = []Event{{Reason: reason.WaitingForCanary, Action: "Wait", Note: msg}}
		}
		return t, true
	}
	t.Reason = reason.CanaryNotReady
	t.Message = fmt.Sprintf("%s after waiting %s (readyTimeout)", msg, g.Timeout)
	if g.OnTimeout == analysis.FailRollback {
		t.Kind, t.Phase = Rollback, v1alpha1.PhaseRolledBack
		t.Events = []Event{{Warning: true, Reason: reason.RolledBack, Action: "Rollback", Note: fmt.Sprintf("canary %q rolled back (%s): %s", w.Canary, t.Reason, t.Message)}}
		return t, true
	}
	t.Kind, t.Phase, t.PausedReason = Pause, v1alpha1.PhasePaused, reason.CanaryNotReady
	t.Events = []Event{{Warning: true, Reason: reason.Paused, Action: "Pause", Note: fmt.Sprintf("rollout of %q paused before its first step: %s", w.Canary, t.Message)}}
	return t, true
}
