// Package lifecycle decides each transition of a Service's rollout (start, advance,
// promote, roll back, pause, resume, supersede, opt out, mark invalid, settle) as a pure
// chain of named checks over the gathered world, in the style of analysis.Decide.
package lifecycle

import (
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// check is one link of the chain: it decides (true) or passes to the next (false).
type check struct {
	name string
	fn   func(World) (Transition, bool)
}

// chain is the decision order. A write that has not reached every VirtualService is
// retried before anything else (a rollback is never blocked by something unrelated to
// it), then leaving (opt-out), then a canary whose subset is gone (its traffic goes back
// to stable before anything else), then bad input, then a
// finished rollout still being followed, then what ends or continues an active rollout
// (supersede, recover, routes already promoted, broken routes, resume, the guard), and
// last what an idle Service does (settle, retry, start).
var chain = []check{
	{"converge", convergeCheck},
	{"optOut", optOutCheck},
	{"canaryUndefined", canaryUndefinedCheck},
	{"invalid", invalidCheck},
	{"followUp", followUpCheck},
	{"supersede", supersedeCheck},
	{"recover", recoverCheck},
	{"routesChanged", routesChangedCheck},
	{"alert", alertCheck},
	{"resume", resumeCheck},
	{"approve", approveCheck},
	{"join", joinCheck},
	{"statsSource", statsSourceCheck},
	{"guard", guardCheck},
	{"noCanary", noCanaryCheck},
	{"rolledBack", rolledBackCheck},
	{"abortBeforeStart", abortBeforeStartCheck},
	{"start", startCheck},
}

// Decide runs the chain; the first check that decides wins. The last check always does.
func Decide(w World) Transition {
	for _, c := range chain {
		if t, ok := c.fn(w); ok {
			t.Check = c.name
			return t
		}
	}
	panic("lifecycle: the chain ends without a decision") // startCheck always decides
}

// CheckNames lists the chain's checks in the order they run.
func CheckNames() []string {
	names := make([]string, len(chain))
	for i, c := range chain {
		names[i] = c.name
	}
	return names
}

// Active reports whether a rollout is under way in phase p: its canary carries (or may
// carry) traffic.
func Active(p v1alpha1.Phase) bool {
	return p == v1alpha1.PhaseProgressing || p == v1alpha1.PhasePaused || p == v1alpha1.PhaseAwaitingApproval
}

func invalid(p *Problem) Transition {
	return Transition{Kind: MarkInvalid, Reason: p.Reason, Message: p.Message}
}
