package lifecycle

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/spec"
)

var started = metav1.NewMicroTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// world builds a valid, opted-in world for stable v1 and canary v2 with the default
// schedule (5, 25, 50, 100); change modifies it.
func world(change func(*World)) World {
	w := World{
		Enabled: true, Tracked: true, Host: "reviews.default.svc.cluster.local",
		Spec:   spec.Spec{Enabled: true, Canary: "v2", Steps: schedule.Default(time.Second, 10)},
		Stable: "v1", Canary: "v2",
		Routes:     Routes{CanaryWeights: []int32{0}},
		IdleRoutes: Routes{CanaryWeights: []int32{0}},
		Serving:    "v1",
		Now:        started.Add(time.Hour),
		CanaryPods: Readiness{Total: 2, Ready: 2},
	}
	w.Spec.Readiness = spec.Readiness{MinReadyPods: 1, Timeout: 5 * time.Minute, OnTimeout: analysis.FailPause}
	if change != nil {
		change(&w)
	}
	return w
}

// rollout puts w mid-rollout of v2 over v1 in phase p at step 2 (25 %).
func rollout(w *World, p v1alpha1.Phase) {
	w.Status = v1alpha1.TrafficShiftStatus{Phase: p, Stable: "v1", Canary: "v2", Step: 2, Weight: 25, RolloutStartedAt: &started}
	w.Routes.CanaryWeights = []int32{25}
}

// alertRecord is a firing alert for canary, received after seconds from the rollout's start.
func alertRecord(fp, canary string, after int, acted *metav1.MicroTime) v1alpha1.AlertRecord {
	return v1alpha1.AlertRecord{Fingerprint: fp, Name: "CanaryErrors", Canary: canary, Summary: "5xx above 5%",
		StartsAt: metav1.NewTime(started.Time), GeneratorURL: "http://prometheus/graph?g0.expr=x",
		ReceivedAt: metav1.NewMicroTime(started.Add(time.Duration(after) * time.Second)), ActedAt: acted}
}

func guard(a analysis.Action, why string) *analysis.Decision {
	return &analysis.Decision{Action: a, Reason: why, Message: "the guard says " + why}
}

var broken = &Problem{Reason: reason.NoManagedRoute, Message: "no http route sends …"}

func TestDecide(t *testing.T) {
	tests := map[string]struct {
		world World
		want  Transition // compared on the fields set below
		check string
		// events are the reasons of the Events, in order.
		events []string
	}{
		"not opted in, nothing tracked": {
			world: world(func(w *World) { w.Enabled, w.Tracked = false, false }),
			want:  Transition{Kind: Nothing}, check: "optOut",
		},
		"opt-out while idle: nothing to return": {
			world: world(func(w *World) { w.Enabled = false; w.Status.Phase = v1alpha1.PhaseIdle }),
			want:  Transition{Kind: OptOut, Reason: reason.OptedOut, Release: true}, check: "optOut",
		},
		"opt-out mid-rollout returns the traffic first": {
			world: world(func(w *World) { w.Enabled = false; rollout(w, v1alpha1.PhaseProgressing) }),
			want:  Transition{Kind: OptOut, Reason: reason.OptedOut, ReturnTraffic: true, Release: true, Stable: "v1", Canary: "v2"}, check: "optOut",
			events: []string{reason.OptedOut},
		},
		"opt-out of a paused rollout whose input went bad": {
			world: world(func(w *World) { w.Enabled = false; rollout(w, v1alpha1.PhasePaused); w.Problem = broken }),
			want:  Transition{Kind: OptOut, Reason: reason.OptedOut, ReturnTraffic: true, Release: true, Stable: "v1", Canary: "v2"}, check: "optOut",
			events: []string{reason.OptedOut},
		},
		"opt-out waits for a pending rollback write": {
			world: world(func(w *World) {
				w.Enabled = false
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Status.PendingWrite = &v1alpha1.PendingWrite{Action: "Rollback", Stable: "v1", Canary: "v2", Failures: []v1alpha1.WriteFailure{{VirtualService: "b"}}}
				w.Retried = true
			}),
			want: Transition{Kind: OptOut, Reason: reason.OptedOut, Release: false}, check: "optOut",
		},
		"a pending rollback write is retried before anything else": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Status.PendingWrite = &v1alpha1.PendingWrite{Action: "Rollback", Stable: "v1", Canary: "v2", Weight: 0, Failures: []v1alpha1.WriteFailure{{VirtualService: "b"}}}
				w.Problem = &Problem{reason.InvalidSpec, "sluice.dev/steps: …"}
				w.Enabled = false
			}),
			want: Transition{Kind: Converge, Reason: reason.WriteFailed, Stable: "v1", Canary: "v2"}, check: "converge",
		},
		"once retried, the pending write lets the lifecycle go on": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Status.PendingWrite = &v1alpha1.PendingWrite{Action: "Undo", Stable: "v1", Canary: "v2", Weight: 25}
				w.Retried = true
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"a VirtualService that appeared mid-rollout joins it": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseProgressing); w.Joining = []string{"reviews-edge"} }),
			want:  Transition{Kind: Join, Reason: reason.VirtualServiceJoined, Weight: 25, Canary: "v2"}, check: "join",
			events: []string{reason.VirtualServiceJoined},
		},
		"joined once per reconcile": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Joining, w.Joined = []string{"reviews-edge"}, true
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"bad input is terminal": {
			world: world(func(w *World) { w.Problem = &Problem{reason.InvalidSpec, "sluice.dev/steps: …"} }),
			want:  Transition{Kind: MarkInvalid, Reason: reason.InvalidSpec, Message: "sluice.dev/steps: …"}, check: "invalid",
		},
		"bad input mid-rollout changes nothing": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Problem = &Problem{reason.SubsetNotFound, "no subset v2"}
			}),
			want: Transition{Kind: MarkInvalid, Reason: reason.SubsetNotFound,
				Message: `no subset v2; the rollout of "v2" is suspended at step 2 (canary weight 25 as last written), unguarded, until this is fixed`}, check: "invalid",
		},
		"bad input while already Invalid mid-rollout: the same message": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseInvalid)
				w.Problem = &Problem{reason.NoVirtualService, "no VirtualService"}
			}),
			want: Transition{Kind: MarkInvalid, Reason: reason.NoVirtualService,
				Message: `no VirtualService; the rollout of "v2" is suspended at step 2 (canary weight 25 as last written), unguarded, until this is fixed`}, check: "invalid",
		},
		"the canary's subset removed mid-rollout: its traffic goes back to stable": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Problem, w.CanaryUndefined = &Problem{reason.SubsetNotFound, `subset "v2" not defined`}, true
			}),
			want: Transition{Kind: Rollback, Reason: reason.CanarySubsetRemoved, Stable: "v1", Canary: "v2", Weight: 0, Phase: v1alpha1.PhaseRolledBack,
				Message: `the DestinationRules no longer define canary subset "v2" (subset "v2" not defined): its traffic went back to "v1"`}, check: "canaryUndefined",
			events: []string{reason.RolledBack},
		},
		"the canary's subset removed after the rollout ended: invalid, nothing written": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Problem, w.CanaryUndefined = &Problem{reason.SubsetNotFound, `subset "v2" not defined`}, true
			}),
			want: Transition{Kind: MarkInvalid, Reason: reason.SubsetNotFound}, check: "invalid",
		},
		"a finished rollout is followed before new commands": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Following, w.Canary, w.Spec.Canary = true, "v3", "v3"
			}),
			want: Transition{Kind: FollowUp}, check: "followUp",
		},
		"a canary the annotation no longer names is superseded": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseProgressing); w.Canary, w.Spec.Canary = "v3", "v3" }),
			want:  Transition{Kind: Supersede, Reason: reason.Superseded, Stable: "v1", Canary: "v2", Weight: 0, Phase: v1alpha1.PhaseIdle}, check: "supersede",
			events: []string{reason.Superseded},
		},
		"removing the canary annotation supersedes a paused rollout": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhasePaused); w.Canary, w.Spec.Canary = "", "" }),
			want:  Transition{Kind: Supersede, Reason: reason.Superseded, Canary: "v2", Phase: v1alpha1.PhaseIdle}, check: "supersede",
			events: []string{reason.Superseded},
		},
		"Invalid mid-rollout recovers when the routes hold sluice's weight": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseInvalid) }),
			want:  Transition{Kind: Recover, Reason: reason.Recovered, Weight: 25, Step: 2, Phase: v1alpha1.PhaseProgressing}, check: "recover",
			events: []string{reason.Recovered},
		},
		"recovery keeps an operator pause": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseInvalid); w.Spec.Paused = true }),
			want:  Transition{Kind: Recover, Phase: v1alpha1.PhasePaused, PausedReason: reason.OperatorPause}, check: "recover",
			events: []string{reason.Recovered},
		},
		"recovery with routes still broken stays invalid": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseInvalid); w.Routes = Routes{Problem: broken} }),
			want:  Transition{Kind: MarkInvalid, Reason: reason.NoManagedRoute}, check: "recover",
		},
		"weights moved while Invalid: the rollout starts over": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseInvalid); w.Routes.CanaryWeights = []int32{40} }),
			want:  Transition{Kind: Start, Reason: reason.RolloutStarted, Weight: 5, Step: 1, Phase: v1alpha1.PhaseProgressing}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"routes already all canary: recorded as promoted": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Routes = Routes{Problem: broken}
				w.Serving = "v2"
			}),
			want: Transition{Kind: RecordPromoted, Reason: reason.CanaryAlreadyServing, Stable: "v2", Canary: "v2", Weight: 100, Step: 4, Phase: v1alpha1.PhasePromoted}, check: "routesChanged",
			events: []string{reason.Promoted},
		},
		"routes broken mid-rollout": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Routes = Routes{Problem: broken}
				w.Serving = ""
			}),
			want: Transition{Kind: MarkInvalid, Reason: reason.NoManagedRoute}, check: "routesChanged",
		},
		"a firing alert rolls the canary back": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Status.Alerts = []v1alpha1.AlertRecord{alertRecord("f1", "v2", 1, nil)}
			}),
			want: Transition{Kind: Rollback, Reason: reason.AlertFiring, Weight: 0, Phase: v1alpha1.PhaseRolledBack, Message: `alert "CanaryErrors" firing since 2026-01-01T00:00:00Z: 5xx above 5% (http://prometheus/graph?g0.expr=x)`}, check: "alert",
			events: []string{reason.RolledBack},
		},
		"an alert rolls back a paused canary that carries traffic": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Status.Alerts = []v1alpha1.AlertRecord{alertRecord("f1", "v2", 1, nil)}
			}),
			want: Transition{Kind: Rollback, Reason: reason.AlertFiring, Phase: v1alpha1.PhaseRolledBack}, check: "alert",
			events: []string{reason.RolledBack},
		},
		"onAlert Pause pauses": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Spec.OnAlert = v1alpha1.AlertPause
				w.Status.Alerts = []v1alpha1.AlertRecord{alertRecord("f1", "v2", 1, nil)}
			}),
			want: Transition{Kind: Pause, Reason: reason.AlertFiring, PausedReason: reason.AlertFiring, Phase: v1alpha1.PhasePaused, Weight: 25}, check: "alert",
			events: []string{reason.Paused},
		},
		"onAlert Ignore acknowledges": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Spec.OnAlert = v1alpha1.AlertIgnore
				w.Status.Alerts = []v1alpha1.AlertRecord{alertRecord("f1", "v2", 1, nil)}
			}),
			want: Transition{Kind: AcknowledgeAlert, Reason: reason.AlertIgnored}, check: "alert",
			events: []string{reason.AlertIgnored},
		},
		"alerts acted on, for another canary or from before the rollout are not acted on again": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				acted := metav1.NewMicroTime(started.Add(time.Minute))
				w.Status.Alerts = []v1alpha1.AlertRecord{alertRecord("a", "v2", 1, &acted), alertRecord("b", "v3", 1, nil), alertRecord("c", "v2", -1, nil)}
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"an alert with the canary at weight 0 changes nothing": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Status.Weight, w.Routes.CanaryWeights = 0, []int32{0}
				w.Status.Alerts = []v1alpha1.AlertRecord{alertRecord("f1", "v2", 1, nil)}
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"a step with an approval gate that held its dwell waits for approval": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Guard = guard(analysis.Hold, reason.AwaitingApproval)
			}),
			want: Transition{Kind: AwaitApproval, Reason: reason.AwaitingApproval, Phase: v1alpha1.PhaseAwaitingApproval, Weight: 25, Step: 2}, check: "guard",
			events: []string{reason.AwaitingApproval},
		},
		"waiting for approval holds (the guard ran)": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseAwaitingApproval)
				w.Guard = guard(analysis.Hold, reason.AwaitingApproval)
			}),
			want: Transition{Kind: Hold, Reason: reason.AwaitingApproval, Record: true}, check: "guard",
		},
		"the guard rolls back a rollout waiting for approval": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseAwaitingApproval)
				w.Guard = guard(analysis.Rollback, reason.ErrorRate)
			}),
			want: Transition{Kind: Rollback, Reason: reason.ErrorRate, Phase: v1alpha1.PhaseRolledBack}, check: "guard",
			events: []string{reason.RolledBack},
		},
		"an approval up to the step's weight lets it go on": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseAwaitingApproval)
				w.Spec.Approve = spec.Approval{Canary: "v2", UpTo: 25}
			}),
			want: Transition{Kind: Approve, Reason: reason.Approved, Phase: v1alpha1.PhaseProgressing, Message: `step 2 (weight 25) of "v2" approved by sluice.dev/approve=v2@25`}, check: "approve",
			events: []string{reason.Approved},
		},
		"an approval of a lower step or another canary does not": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseAwaitingApproval)
				w.Spec.Approve = spec.Approval{Canary: "v2", UpTo: 5}
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"operator pause lifted: resume": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhasePaused); w.Status.PausedReason = reason.OperatorPause }),
			want:  Transition{Kind: Resume, Reason: reason.Resumed, Weight: 25, Step: 2, Phase: v1alpha1.PhaseProgressing}, check: "resume",
			events: []string{reason.Resumed},
		},
		"still paused by the operator: the guard runs": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Status.PausedReason, w.Spec.Paused = reason.OperatorPause, true
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"a fresh retry resumes a guard pause and adopts the weights found": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Status.PausedReason, w.Status.LastRetry = reason.ExternalWeightChange, "v2@1"
				w.Spec.Retry, w.Spec.RetryToken = "v2", "v2@2"
				w.Routes.CanaryWeights = []int32{40}
			}),
			want: Transition{Kind: Resume, Reason: reason.Resumed, Retry: "v2@2", Adopt: true, Weight: 40, Step: 2, Phase: v1alpha1.PhaseProgressing}, check: "resume",
			events: []string{reason.Resumed},
		},
		"a fresh retry after the canary was put back to 0 starts over at the first step": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Status.PausedReason = reason.ExternalWeightChange
				w.Spec.Retry, w.Spec.RetryToken = "v2", "v2@1"
				w.Routes.CanaryWeights = []int32{0}
			}),
			want: Transition{Kind: Start, Reason: reason.RolloutStarted, Retry: "v2@1", Weight: 5, Step: 1, Phase: v1alpha1.PhaseProgressing}, check: "resume",
			events: []string{reason.RolloutStarted},
		},
		"a retry token already used does not resume": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhasePaused)
				w.Status.PausedReason, w.Status.LastRetry = reason.Silent, "v2@2"
				w.Spec.Retry, w.Spec.RetryToken = "v2", "v2@2"
			}),
			want: Transition{Kind: Observe}, check: "guard",
		},
		"stats source missing mid-rollout": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.StatsProblem = &Problem{reason.PrometheusNotConfigured, "no --prometheus-url"}
			}),
			want: Transition{Kind: MarkInvalid, Reason: reason.PrometheusNotConfigured}, check: "statsSource",
		},
		"an active rollout needs the guard": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseProgressing) }),
			want:  Transition{Kind: Observe, Stable: "v1", Canary: "v2"}, check: "guard",
		},
		"guard rollback": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Guard = guard(analysis.Rollback, reason.ErrorRate)
			}),
			want: Transition{Kind: Rollback, Reason: reason.ErrorRate, Weight: 0, Phase: v1alpha1.PhaseRolledBack}, check: "guard",
			events: []string{reason.RolledBack},
		},
		"guard rollback while paused": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhasePaused); w.Guard = guard(analysis.Rollback, reason.Latency) }),
			want:  Transition{Kind: Rollback, Reason: reason.Latency, Phase: v1alpha1.PhaseRolledBack}, check: "guard",
			events: []string{reason.RolledBack},
		},
		"guard promote": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Guard = guard(analysis.Promote, reason.RolloutComplete)
			}),
			want: Transition{Kind: Promote, Reason: reason.RolloutComplete, Weight: 100, Step: 4, Phase: v1alpha1.PhasePromoted}, check: "guard",
			events: []string{reason.Promoted},
		},
		"guard advance": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Guard = guard(analysis.Advance, reason.StepComplete)
			}),
			want: Transition{Kind: Advance, Reason: reason.StepComplete, Weight: 50, Step: 3, Phase: v1alpha1.PhaseProgressing}, check: "guard",
			events: []string{reason.StepAdvanced},
		},
		"advance past the last step holds": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Status.Step, w.Status.Weight = 4, 100
				w.Guard = guard(analysis.Advance, reason.StepComplete)
			}),
			want: Transition{Kind: Hold, Reason: reason.InvalidStep, Record: true}, check: "guard",
		},
		"guard pause on someone else's weights adopts them": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Routes.CanaryWeights = []int32{40}
				w.Guard = guard(analysis.Pause, reason.ExternalWeightChange)
			}),
			want: Transition{Kind: Pause, Reason: reason.ExternalWeightChange, PausedReason: reason.ExternalWeightChange, Adopt: true, Weight: 40, Phase: v1alpha1.PhasePaused}, check: "guard",
			events: []string{reason.ExternalWeightChange},
		},
		"someone else's weights that disagree are not adopted": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseProgressing)
				w.Routes.CanaryWeights = []int32{25, 40}
				w.Guard = guard(analysis.Pause, reason.ExternalWeightChange)
			}),
			want: Transition{Kind: Pause, Reason: reason.ExternalWeightChange, Weight: 25, Phase: v1alpha1.PhasePaused}, check: "guard",
			events: []string{reason.ExternalWeightChange},
		},
		"operator pause": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseProgressing); w.Guard = guard(analysis.Pause, reason.Paused) }),
			want:  Transition{Kind: Pause, Reason: reason.Paused, PausedReason: reason.OperatorPause, Phase: v1alpha1.PhasePaused}, check: "guard",
			events: []string{reason.Paused},
		},
		"a pause while paused changes nothing": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhasePaused); w.Guard = guard(analysis.Pause, reason.Unobservable) }),
			want:  Transition{Kind: Hold, Record: false}, check: "guard",
		},
		"guard hold is recorded": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseProgressing); w.Guard = guard(analysis.Hold, reason.Dwell) }),
			want:  Transition{Kind: Hold, Reason: reason.Dwell, Record: true, Weight: 25, Step: 2}, check: "guard",
		},
		"first reconcile without a canary: idle": {
			world: world(func(w *World) { w.Canary, w.Spec.Canary = "", "" }),
			want:  Transition{Kind: Settle, Stable: "v1", Phase: v1alpha1.PhaseIdle}, check: "noCanary",
		},
		"back from Invalid after a promotion: promoted": {
			world: world(func(w *World) {
				w.Status = v1alpha1.TrafficShiftStatus{Phase: v1alpha1.PhaseInvalid, Stable: "v2", Canary: "v2", Weight: 100}
				w.Stable, w.Canary = "v2", ""
			}),
			want: Transition{Kind: Settle, Stable: "v2", Phase: v1alpha1.PhasePromoted}, check: "noCanary",
		},
		"idle with no managed route": {
			world: world(func(w *World) { w.Canary = ""; w.IdleRoutes = Routes{Problem: broken} }),
			want:  Transition{Kind: MarkInvalid, Reason: reason.NoManagedRoute}, check: "noCanary",
		},
		"rolled back stays rolled back": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhaseRolledBack); w.Status.Weight = 0 }),
			want:  Transition{Kind: Settle, Phase: v1alpha1.PhaseRolledBack}, check: "rolledBack",
		},
		"a fresh retry restarts a rolled-back canary": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Spec.Retry, w.Spec.RetryToken = "v2", "v2"
			}),
			want: Transition{Kind: Start, Reason: reason.Retried, Retry: "v2", Weight: 5, Step: 1, Phase: v1alpha1.PhaseProgressing}, check: "rolledBack",
			events: []string{reason.Retried, reason.RolloutStarted},
		},
		"a retry with an abort for the same canary stays rolled back": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Spec.Retry, w.Spec.RetryToken, w.Spec.Abort = "v2", "v2@x", "v2"
			}),
			want: Transition{Kind: Settle, Phase: v1alpha1.PhaseRolledBack}, check: "rolledBack",
		},
		"a retry into broken routes is invalid": {
			world: world(func(w *World) {
				rollout(w, v1alpha1.PhaseRolledBack)
				w.Spec.Retry, w.Spec.RetryToken = "v2", "v2@x"
				w.Routes = Routes{Problem: broken}
			}),
			want: Transition{Kind: MarkInvalid, Reason: reason.NoManagedRoute}, check: "rolledBack",
		},
		"an abort naming a canary not yet started never starts it": {
			world: world(func(w *World) { w.Spec.Abort = "v2" }),
			want:  Transition{Kind: Settle, Phase: v1alpha1.PhaseIdle}, check: "abortBeforeStart",
		},
		"a new canary starts at the first step": {
			world: world(nil),
			want:  Transition{Kind: Start, Reason: reason.RolloutStarted, Stable: "v1", Canary: "v2", Weight: 5, Step: 1, Phase: v1alpha1.PhaseProgressing}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"routes at a step's weight with no rollout on record: adopted at that step": {
			world: world(func(w *World) { w.Routes.CanaryWeights = []int32{25} }),
			want: Transition{Kind: Start, Adopt: true, Reason: reason.RolloutAdopted, Stable: "v1", Canary: "v2", Weight: 25, Step: 2, Phase: v1alpha1.PhaseProgressing,
				Message: `the routes send 25% of reviews.default.svc.cluster.local to "v2" over "v1" with no rollout on record (was the TrafficShift deleted?): the rollout continues at step 2/4`},
			check: "start", events: []string{reason.RolloutAdopted},
		},
		"routes at a weight off the schedule with no rollout on record: started over": {
			world: world(func(w *World) { w.Routes.CanaryWeights = []int32{30} }),
			want:  Transition{Kind: Start, Reason: reason.RolloutStarted, Weight: 5, Step: 1}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"an idle Service whose routes were split by hand starts over": {
			world: world(func(w *World) { w.Status.Phase, w.Routes.CanaryWeights = v1alpha1.PhaseIdle, []int32{25} }),
			want:  Transition{Kind: Start, Reason: reason.RolloutStarted, Weight: 5, Step: 1}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"a canary with pods not Ready waits before its first step": {
			world: world(func(w *World) {
				w.CanaryPods = Readiness{Total: 2, Ready: 1, NotReady: []string{"v2-b: ContainersNotReady"}}
			}),
			want: Transition{Kind: WaitForCanary, Reason: reason.WaitingForCanary, Phase: v1alpha1.PhaseWaitingForCanary, Canary: "v2"}, check: "start",
			events: []string{reason.WaitingForCanary},
		},
		"a canary without pods waits": {
			world: world(func(w *World) { w.CanaryPods = Readiness{} }),
			want:  Transition{Kind: WaitForCanary, Message: `canary "v2": 0 of 0 pods Ready, 1 needed and all of them`}, check: "start",
			events: []string{reason.WaitingForCanary},
		},
		"still waiting: no second Event": {
			world: world(func(w *World) {
				waiting := metav1.NewMicroTime(w.Now.Add(-time.Minute))
				w.Status = v1alpha1.TrafficShiftStatus{Phase: v1alpha1.PhaseWaitingForCanary, Stable: "v1", Canary: "v2", WaitingSince: &waiting}
				w.CanaryPods = Readiness{Total: 1}
			}),
			want: Transition{Kind: WaitForCanary, Phase: v1alpha1.PhaseWaitingForCanary}, check: "start",
		},
		"fewer Ready than minReadyPods": {
			world: world(func(w *World) { w.Spec.Readiness.MinReadyPods = 3 }),
			want:  Transition{Kind: WaitForCanary}, check: "start",
			events: []string{reason.WaitingForCanary},
		},
		"the pods became Ready: the rollout starts": {
			world: world(func(w *World) {
				waiting := metav1.NewMicroTime(w.Now.Add(-time.Minute))
				w.Status = v1alpha1.TrafficShiftStatus{Phase: v1alpha1.PhaseWaitingForCanary, Stable: "v1", Canary: "v2", WaitingSince: &waiting}
			}),
			want: Transition{Kind: Start, Reason: reason.RolloutStarted, Weight: 5}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"waited past readyTimeout: paused": {
			world: world(func(w *World) {
				waiting := metav1.NewMicroTime(w.Now.Add(-6 * time.Minute))
				w.Status = v1alpha1.TrafficShiftStatus{Phase: v1alpha1.PhaseWaitingForCanary, Stable: "v1", Canary: "v2", WaitingSince: &waiting}
				w.CanaryPods = Readiness{Total: 1, NotReady: []string{"v2-a: ImagePullBackOff"}}
			}),
			want: Transition{Kind: Pause, Reason: reason.CanaryNotReady, Phase: v1alpha1.PhasePaused, PausedReason: reason.CanaryNotReady}, check: "start",
			events: []string{reason.Paused},
		},
		"waited past readyTimeout with onNotReady Rollback": {
			world: world(func(w *World) {
				waiting := metav1.NewMicroTime(w.Now.Add(-6 * time.Minute))
				w.Status = v1alpha1.TrafficShiftStatus{Phase: v1alpha1.PhaseWaitingForCanary, Stable: "v1", Canary: "v2", WaitingSince: &waiting}
				w.CanaryPods = Readiness{Total: 1}
				w.Spec.Readiness.OnTimeout = analysis.FailRollback
			}),
			want: Transition{Kind: Rollback, Reason: reason.CanaryNotReady, Phase: v1alpha1.PhaseRolledBack}, check: "start",
			events: []string{reason.RolledBack},
		},
		"an abort while waiting settles to Idle": {
			world: world(func(w *World) {
				w.Status = v1alpha1.TrafficShiftStatus{Phase: v1alpha1.PhaseWaitingForCanary, Stable: "v1", Canary: "v2"}
				w.Spec.Abort = "v2"
			}),
			want: Transition{Kind: Settle, Phase: v1alpha1.PhaseIdle}, check: "abortBeforeStart",
		},
		"a new canary under the pause annotation starts paused": {
			world: world(func(w *World) { w.Spec.Paused = true }),
			want:  Transition{Kind: Start, Weight: 5, Phase: v1alpha1.PhasePaused, PausedReason: reason.OperatorPause}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"a start records the retry token that named it": {
			world: world(func(w *World) { w.Spec.Retry, w.Spec.RetryToken = "v2", "v2@7" }),
			want:  Transition{Kind: Start, Retry: "v2@7", Weight: 5}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"a superseding canary starts after the last one ended": {
			world: world(func(w *World) { rollout(w, v1alpha1.PhasePromoted); w.Canary, w.Spec.Canary = "v3", "v3" }),
			want:  Transition{Kind: Start, Canary: "v3", Weight: 5}, check: "start",
			events: []string{reason.RolloutStarted},
		},
		"a start with no managed route is invalid": {
			world: world(func(w *World) { w.Routes = Routes{Problem: broken} }),
			want:  Transition{Kind: MarkInvalid, Reason: reason.NoManagedRoute, Message: broken.Message}, check: "start",
		},
	}
	decided := map[string]bool{}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Decide(tc.world)
			decided[got.Check] = true
			if got.Check != tc.check {
				t.Errorf("decided by %q, want %q (%+v)", got.Check, tc.check, got)
			}
			assertTransition(t, got, tc.want)
			var evs []string
			for _, e := range got.Events {
				evs = append(evs, e.Reason)
				if e.Note == "" || e.Action == "" {
					t.Errorf("event %+v lacks a note or action", e)
				}
			}
			if !slices.Equal(evs, tc.events) {
				t.Errorf("events %v, want %v", evs, tc.events)
			}
			if got.Kind != Nothing && got.Kind != FollowUp && got.Kind != Observe && got.Kind != Hold && got.Message == "" {
				t.Errorf("%s without a message", got.Kind)
			}
		})
	}
	for _, c := range CheckNames() {
		if !decided[c] {
			t.Errorf("no case is decided by check %q", c)
		}
	}
}

// assertTransition compares the fields of want that are set (Kind always).
func assertTransition(t *testing.T, got, want Transition) {
	t.Helper()
	if got.Kind != want.Kind {
		t.Fatalf("kind %s, want %s (%+v)", got.Kind, want.Kind, got)
	}
	str := func(field, g, w string) {
		if w != "" && g != w {
			t.Errorf("%s %q, want %q", field, g, w)
		}
	}
	str("reason", got.Reason, want.Reason)
	str("message", got.Message, want.Message)
	str("stable", got.Stable, want.Stable)
	str("canary", got.Canary, want.Canary)
	str("phase", string(got.Phase), string(want.Phase))
	str("pausedReason", got.PausedReason, want.PausedReason)
	str("retry", got.Retry, want.Retry)
	if want.Weight != 0 || want.Kind == Rollback || want.Kind == Supersede {
		if got.Weight != want.Weight {
			t.Errorf("weight %d, want %d", got.Weight, want.Weight)
		}
	}
	if want.Step != 0 && got.Step != want.Step {
		t.Errorf("step %d, want %d", got.Step, want.Step)
	}
	if want.Kind == OptOut && got.Release != want.Release {
		t.Errorf("release %v, want %v", got.Release, want.Release)
	}
	if got.Reason == reason.AlertFiring || got.Reason == reason.AlertIgnored {
		if !slices.Equal(got.Alerts, []string{"f1"}) || got.AlertAction == "" {
			t.Errorf("acts on alerts %v (%q), want [f1]", got.Alerts, got.AlertAction)
		}
	}
	if want.Kind == Join && !slices.Equal(got.VirtualServices, []string{"reviews-edge"}) {
		t.Errorf("join writes %v", got.VirtualServices)
	}
	if got.Adopt != want.Adopt || got.ReturnTraffic != want.ReturnTraffic || got.Record != want.Record {
		t.Errorf("adopt/returnTraffic/record %v/%v/%v, want %v/%v/%v", got.Adopt, got.ReturnTraffic, got.Record, want.Adopt, want.ReturnTraffic, want.Record)
	}
}

func TestSubsets(t *testing.T) {
	unknown := &Problem{reason.UnknownStable, "VirtualServices disagree"}
	tests := map[string]struct {
		status                 v1alpha1.TrafficShiftStatus
		spec                   spec.Spec
		serving                string
		servingProblem         *Problem
		wantStable, wantCanary string
		wantProblem            string
	}{
		"status wins":                                   {status: v1alpha1.TrafficShiftStatus{Stable: "v1"}, spec: spec.Spec{Stable: "v0", Canary: "v2"}, serving: "v9", wantStable: "v1", wantCanary: "v2"},
		"annotation before the routes":                  {spec: spec.Spec{Stable: "v0", Canary: "v2"}, serving: "v9", wantStable: "v0", wantCanary: "v2"},
		"the routes' serving subset":                    {spec: spec.Spec{Canary: "v2"}, serving: "v1", wantStable: "v1", wantCanary: "v2"},
		"a canary naming the stable":                    {status: v1alpha1.TrafficShiftStatus{Stable: "v2"}, spec: spec.Spec{Canary: "v2"}, wantStable: "v2"},
		"routes that disagree":                          {spec: spec.Spec{Canary: "v2"}, servingProblem: unknown, wantProblem: reason.UnknownStable},
		"no serving subset and no problem":              {spec: spec.Spec{Canary: "v2"}, wantProblem: reason.UnknownStable},
		"routes that disagree do not matter once known": {status: v1alpha1.TrafficShiftStatus{Stable: "v1"}, servingProblem: unknown, wantStable: "v1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			stable, canary, p := Subsets(&tc.status, tc.spec, tc.serving, tc.servingProblem)
			if tc.wantProblem != "" {
				if p == nil || p.Reason != tc.wantProblem || !strings.Contains(p.Error(), tc.wantProblem) {
					t.Fatalf("problem %v, want reason %s", p, tc.wantProblem)
				}
				return
			}
			if p != nil || stable != tc.wantStable || canary != tc.wantCanary {
				t.Fatalf("got %q, %q, %v; want %q, %q", stable, canary, p, tc.wantStable, tc.wantCanary)
			}
		})
	}
}

func TestAction(t *testing.T) {
	tests := map[Kind]string{MarkInvalid: "None", RecordPromoted: "Promote", Start: "Start", Rollback: "Rollback", Resume: "Resume"}
	for k, want := range tests {
		if got := (Transition{Kind: k}).Action(); got != want {
			t.Errorf("%s.Action() = %q, want %q", k, got, want)
		}
	}
}
