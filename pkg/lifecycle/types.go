package lifecycle

import (
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/spec"
)

// Kind is the transition the controller carries out.
type Kind string

const (
	// Nothing: the Service is not opted in and nothing is tracked for it.
	Nothing Kind = "Nothing"
	// OptOut: the opt-in was removed; traffic goes back to stable (ReturnTraffic), then
	// sluice stops managing the Service (Release).
	OptOut Kind = "OptOut"
	// Converge: a write that some VirtualServices have not taken yet (the status's pending
	// write) is tried again. The controller applies it and decides again.
	Converge Kind = "Converge"
	// Join: VirtualServices that began routing to the host mid-rollout get the rollout's
	// weight. The controller applies it and decides again.
	Join Kind = "Join"
	// WaitForCanary holds a new rollout before its first step until the canary's pods are
	// Ready (phase WaitingForCanary); nothing is written to the routes.
	WaitForCanary Kind = "WaitForCanary"
	// AcknowledgeAlert: a firing alert the policy ignores is marked as seen. The
	// controller applies it and decides again.
	AcknowledgeAlert Kind = "AcknowledgeAlert"
	// MarkInvalid: bad input; the phase becomes Invalid and no weight is written.
	MarkInvalid Kind = "MarkInvalid"
	// FollowUp: a finished rollout's last write is still being followed at the callers.
	FollowUp Kind = "FollowUp"
	// Supersede: the annotation names another canary; the old one's traffic goes back to
	// stable and the rollout ends as superseded.
	Supersede Kind = "Supersede"
	// Recover: an Invalid rollout whose weights are as sluice left them continues. The
	// controller applies it and decides again.
	Recover Kind = "Recover"
	// RecordPromoted: the routes already send everything to the canary; the rollout is
	// recorded as promoted without a write.
	RecordPromoted Kind = "RecordPromoted"
	// Resume: a paused rollout continues. The controller applies it and decides again.
	Resume Kind = "Resume"
	// Observe: an active rollout needs the guard's verdict; the controller reads the stats,
	// runs analysis.Decide, and decides again with World.Guard set.
	Observe Kind = "Observe"
	// Advance writes the next step's weight.
	Advance Kind = "Advance"
	// Promote leaves the canary alone at 100 and makes it the stable.
	Promote Kind = "Promote"
	// Rollback sets the canary weight to 0 and ends the rollout.
	Rollback Kind = "Rollback"
	// Pause holds the weight until an operator acts; the guard keeps running.
	Pause Kind = "Pause"
	// Hold keeps everything as it is for this tick.
	Hold Kind = "Hold"
	// AwaitApproval holds a step with an approval gate that held its dwell, in phase
	// AwaitingApproval, until sluice.dev/approve names the canary.
	AwaitApproval Kind = "AwaitApproval"
	// Approve: the approval came; the rollout goes on. The controller applies it and
	// decides again.
	Approve Kind = "Approve"
	// Settle records an idle or finished state: nothing to move.
	Settle Kind = "Settle"
	// Start writes the first step's weight of a new canary.
	Start Kind = "Start"
)

// Continues reports whether the controller applies the transition and then decides again
// in the same reconcile.
func (k Kind) Continues() bool {
	return k == Recover || k == Resume || k == Observe || k == Converge || k == Join || k == AcknowledgeAlert || k == Approve
}

// Problem is bad input: terminal until the user fixes it, shown in status and an Event.
type Problem struct {
	Reason, Message string
}

func (p *Problem) Error() string { return p.Reason + ": " + p.Message }

// Routes are what the routing objects say for one pair of subsets.
type Routes struct {
	// Problem says why the routes cannot be managed for the pair (no managed route, a
	// malformed route); nil when they can.
	Problem *Problem
	// CanaryWeights are the distinct canary weights across the managed routes, ascending.
	CanaryWeights []int32
}

// World is everything one lifecycle decision needs; Decide reads nothing else.
type World struct {
	// Enabled: sluice.dev/enabled is "true". When false nothing else is gathered.
	Enabled bool
	// Tracked: the Service has a TrafficShift.
	Tracked bool
	// Status is the TrafficShift status as this reconcile holds it.
	Status v1alpha1.TrafficShiftStatus
	// Problem is the first bad input found while gathering: spec and policy, routing
	// objects, which subset is stable (Subsets), the DestinationRule subsets. nil: valid.
	Problem *Problem
	// CanaryUndefined: the Problem is that the DestinationRules no longer define the
	// canary's subset, while they still define the stable's.
	CanaryUndefined bool
	// Spec is the validated spec (zero with a Problem).
	Spec spec.Spec
	// Host is the Service's host name, for messages.
	Host string
	// Stable and Canary are the subsets this reconcile is about (Subsets).
	Stable, Canary string
	// Routes are the facts for Stable and Canary; IdleRoutes for Stable alone.
	Routes, IdleRoutes Routes
	// Serving is the subset every route to the host sends all its traffic to; "" when
	// the routes do not show one.
	Serving string
	// Following: the controller still follows a finished rollout's last write at the
	// callers (a memory predicate).
	Following bool
	// StatsProblem says why the stats source the spec asks for cannot be had; nil: it can.
	StatsProblem *Problem
	// Guard is the decision engine's verdict for this tick; nil until the stats are read.
	Guard *analysis.Decision
	// Joining are managed VirtualServices that route to the host with the canary at 0 but
	// are not among the rollout's VirtualServices yet (they appeared mid-rollout).
	Joining []string
	// Retried: the pending write was tried again in this reconcile; Joined: the joining
	// VirtualServices were written in this reconcile.
	Retried, Joined bool
	// Now is the controller's clock at this reconcile (data, not a clock).
	Now time.Time
	// CanaryPods is the readiness of the canary subset's pods, for the health gate
	// before the first step.
	CanaryPods Readiness
}

// Readiness counts a subset's pods and says why those not Ready are not.
type Readiness struct {
	Total, Ready int
	// NotReady are "pod: why" for each pod that is not Ready.
	NotReady []string
}

// Transition is what to do, why (Reason, a constant of package reason), the human
// message, and the values the controller writes.
type Transition struct {
	Kind    Kind
	Reason  string
	Message string
	// Check names the lifecycle check that decided.
	Check string
	// Events are the Events to record with the transition, in order.
	Events []Event
	// Stable and Canary are the subsets a write is about.
	Stable, Canary string
	// Weight is the canary weight to write (Start, Advance, Rollback, Supersede, OptOut)
	// or to adopt (Resume, Pause with Adopt); Step the step it belongs to.
	Weight int32
	Step   int32
	// Adopt: take Weight (and Step) as found in the routes instead of writing them.
	Adopt bool
	// Phase is the phase after the transition; PausedReason goes with PhasePaused.
	Phase        v1alpha1.Phase
	PausedReason string
	// ReturnTraffic (OptOut): a rollout carries traffic; send it back to stable first.
	ReturnTraffic bool
	// Release (OptOut): stop tracking the Service (delete its TrafficShift). Not while a
	// write is pending.
	Release bool
	// VirtualServices (Join) are the VirtualServices to write.
	VirtualServices []string
	// Alerts are the fingerprints of the alert records the transition acts on, and
	// AlertAction what it does about them (Rollback, Pause, Ignore).
	Alerts      []string
	AlertAction string
	// Retry (Start, Resume): the fresh sluice.dev/retry token acted on; recorded so that
	// it acts once.
	Retry string
	// Record (Hold): record the guard's verdict as the last decision.
	Record bool
}

// Action is the action recorded in the status's last decision.
func (t Transition) Action() string {
	switch t.Kind {
	case MarkInvalid:
		return "None"
	case RecordPromoted:
		return string(Promote)
	}
	return string(t.Kind)
}

// Event is an Event to record: type (Normal or Warning), reason, action and note.
type Event struct {
	Warning bool
	Reason  string
	Action  string
	Note    string
}
