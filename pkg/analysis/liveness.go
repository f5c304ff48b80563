package analysis

import (
	"fmt"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

// silenceCheck trips when the canary should be getting traffic but gets none: its weight
// is between 0 and 100, stable's requests in the window imply at least MinRequests for the
// canary (expected = stable × w/(100−w)), its pods are being read, and it has had no
// request for longer than SilenceTimeout (or none at all, in a step older than that).
// A canary whose pods cannot be read is left to the unobservable check.
func silenceCheck(in Input) (Decision, bool) {
	th, c, w := in.Thresholds, in.Canary, in.Weight
	if w <= 0 || w >= 100 || th.SilenceTimeout <= 0 || c.Pods == 0 || c.FailedPods > 0 {
		return Decision{}, false
	}
	expected := float64(in.Stable.Requests) * float64(w) / float64(100-w)
	if expected < float64(max(th.MinRequests, 1)) {
		return Decision{}, false
	}
	var quiet time.Duration
	var since string
	switch {
	case !c.LastRequest.IsZero():
		quiet = in.Now.Sub(c.LastRequest)
	case !in.StepStartedAt.IsZero():
		quiet, since = in.Now.Sub(in.StepStartedAt), " (none since the step started)"
	default:
		return Decision{}, false
	}
	if quiet <= th.SilenceTimeout {
		return Decision{}, false
	}
	return Decision{Action: failureAction(th.OnFailure), Reason: reason.Silent,
		Message: fmt.Sprintf("canary got no requests for %s%s at weight %d%% while stable got %d over %s (expected %.0f for the canary); silence timeout %s",
			dur(quiet), since, w, in.Stable.Requests, dur(in.Stable.Span), expected, dur(th.SilenceTimeout))}, true
}

// unobservableCheck acts when no canary pod has been read for longer than
// UnobservableTimeout (or none ever, in a step older than that): missing data is never
// taken as healthy. The policy's OnUnobservable says what to do; unset means Pause.
func unobservableCheck(in Input) (Decision, bool) {
	th, c := in.Thresholds, in.Canary
	if th.UnobservableTimeout <= 0 {
		return Decision{}, false
	}
	var msg string
	switch {
	case !c.LastData.IsZero():
		gap := in.Now.Sub(c.LastData)
		if gap <= th.UnobservableTimeout {
			return Decision{}, false
		}
		msg = fmt.Sprintf("no canary stats for %s (%d pods failing); limit %s", dur(gap), c.FailedPods, dur(th.UnobservableTimeout))
	case !in.StepStartedAt.IsZero():
		gap := in.Now.Sub(in.StepStartedAt)
		if gap <= th.UnobservableTimeout {
			return Decision{}, false
		}
		msg = fmt.Sprintf("no canary stats since the step started %s ago (%d pods failing); limit %s", dur(gap), c.FailedPods, dur(th.UnobservableTimeout))
	default:
		return Decision{}, false
	}
	action := Pause
	if th.OnUnobservable == FailRollback {
		action = Rollback
	}
	return Decision{Action: action, Reason: reason.Unobservable, Message: msg}, true
}
