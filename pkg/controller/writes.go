package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
	"github.com/sluicedev/sluice/pkg/reason"
)

// Actions of a pending write (status.pendingWrite.action).
const (
	writeRollback  = "Rollback"
	writePromote   = "Promote"
	writeSupersede = "Supersede"
	writeOptOut    = "OptOut"
	writeUndo      = "Undo"
)

// setWeight writes canary weight into every managed route of every VirtualService it can.
func (r *Reconciler) setWeight(ctx context.Context, w *world, key types.NamespacedName, stable, canary string, weight int32) istio.Outcome {
	return r.writeAll(ctx, w, w.vss, key, weight, func(vs *vsObj) ([]byte, bool, error) {
		return istio.SetWeight(vs, w.target, stable, canary, weight)
	})
}

// promoteRoutes leaves the canary alone at 100 in every managed route it can.
func (r *Reconciler) promoteRoutes(ctx context.Context, w *world, key types.NamespacedName, stable, canary string) istio.Outcome {
	return r.writeAll(ctx, w, w.vss, key, 100, func(vs *vsObj) ([]byte, bool, error) {
		return istio.Promote(vs, w.target, stable, canary)
	})
}

// writeAll applies transform to each of vss in one pass (istio.WriteAll). The target
// weight is remembered while writing so that a partial write is never taken for someone
// else's edit.
func (r *Reconciler) writeAll(ctx context.Context, w *world, vss []*vsObj, key types.NamespacedName, weight int32, transform istio.Transform) istio.Outcome {
	if rm := r.mem.peek(key); rm != nil {
		rm.pending = &weight
	}
	o := istio.WriteAll(ctx, vss, transform, func(ctx context.Context, vs *vsObj, patch []byte) error {
		if err := istio.ApplyPatch(ctx, r.Client, vs, patch); err != nil {
			if istio.IsPatchConflict(err) {
				r.stale(vs)
			}
			return err
		}
		r.wrote(vs)
		return nil
	})
	if o.Complete() {
		at := r.Clock.Now()
		w.writtenAt = &at
	}
	logger := log.FromContext(ctx)
	for _, name := range o.Written {
		logger.Info("patched VirtualService", "virtualservice", name, "canaryWeight", weight)
	}
	for _, f := range o.Failed {
		logger.Info("VirtualService did not take the write", "virtualservice", f.Name, "canaryWeight", weight, "error", f.Err.Error())
		if r.Metrics != nil {
			r.Metrics.PatchFailures.WithLabelValues(w.svc.Namespace, w.svc.Name).Inc()
		}
	}
	return o
}

// pendingAfter is the pending write after one pass of a write for action: nil when every
// VirtualService took it. A pass that continues prev keeps its start and counts on.
func pendingAfter(prev *sluicev1alpha1.PendingWrite, action, stable, canary string, weight int32, o istio.Outcome, now time.Time) *sluicev1alpha1.PendingWrite {
	if o.Complete() {
		return nil
	}
	p := &sluicev1alpha1.PendingWrite{Action: action, Stable: stable, Canary: canary, Weight: weight, Since: microPtr(now), Attempts: 1}
	if prev != nil && prev.Action == action && prev.Canary == canary && prev.Weight == weight {
		p.Since, p.Attempts = prev.Since, prev.Attempts+1
	}
	for _, f := range o.Failed {
		p.Failures = append(p.Failures, sluicev1alpha1.WriteFailure{VirtualService: f.Name, Message: truncate(f.Err.Error(), 512)})
	}
	return p
}

// failing lists the VirtualServices of p that have not taken it.
func failing(p *sluicev1alpha1.PendingWrite) []string {
	if p == nil {
		return nil
	}
	names := make([]string, len(p.Failures))
	for i, f := range p.Failures {
		names[i] = f.VirtualService
	}
	return names
}

// describePending says which VirtualServices still have not taken p, and why.
func describePending(p *sluicev1alpha1.PendingWrite) string {
	parts := make([]string, len(p.Failures))
	for i, f := range p.Failures {
		parts[i] = fmt.Sprintf("%s: %s", f.VirtualService, f.Message)
	}
	what := fmt.Sprintf("canary %q at weight %d", p.Canary, p.Weight)
	if p.Action == writePromote {
		what = fmt.Sprintf("canary %q alone", p.Canary)
	}
	return fmt.Sprintf("the %s write (%s) has not reached %d VirtualService(s) after %d attempt(s); retrying with backoff: %s",
		p.Action, what, len(p.Failures), p.Attempts, strings.Join(parts, "; "))
}

// notePending records a pass's pending write in ts: the RoutesWritten condition, and an
// Event when the VirtualServices failing change or the write completes.
func (r *Reconciler) notePending(ts *sluicev1alpha1.TrafficShift, svc *corev1.Service, next *sluicev1alpha1.PendingWrite) {
	prev := ts.Status.PendingWrite
	ts.Status.PendingWrite = next
	switch {
	case next != nil:
		msg := describePending(next)
		setCondition(ts, sluicev1alpha1.ConditionRoutesWritten, false, reason.WriteFailed, msg)
		if !slices.Equal(failing(prev), failing(next)) || prev.Action != next.Action {
			r.event(ts, svc, corev1.EventTypeWarning, reason.WriteFailed, "Write", "%s", msg)
		}
	case prev != nil:
		msg := fmt.Sprintf("the %s write reached every VirtualService after %d attempt(s)", prev.Action, prev.Attempts+1)
		setCondition(ts, sluicev1alpha1.ConditionRoutesWritten, true, reason.RoutesWritten, msg)
		r.event(ts, svc, corev1.EventTypeNormal, reason.RoutesWritten, "Write", "%s", msg)
	}
}

// pendingBackoff is how long to wait before trying a pending write again: 100 ms,
// doubling with each attempt, at most 5 s. It never gives up.
func pendingBackoff(attempts int32) time.Duration {
	d := 100 * time.Millisecond
	for i := int32(1); i < attempts && d < 5*time.Second; i++ {
		d *= 2
	}
	return min(d, 5*time.Second)
}

// converge tries the pending write again on the VirtualServices that have not taken it,
// read fresh by name: one that is gone, or no longer has a route sluice shifts, no longer
// routes to the canary through sluice and is done with.
func (r *Reconciler) converge(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, now time.Time) error {
	p := ts.Status.PendingWrite
	w.retried = true
	var vss []*vsObj
	for _, name := range failing(p) {
		vs := &vsObj{}
		if err := r.fresh().Get(ctx, client.ObjectKey{Namespace: w.svc.Namespace, Name: name}, vs); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("reading VirtualService %s/%s to retry the %s write: %w", w.svc.Namespace, name, p.Action, err)
		}
		vss = append(vss, vs)
	}
	transform := func(vs *vsObj) ([]byte, bool, error) {
		return istio.SetWeight(vs, w.target, p.Stable, p.Canary, p.Weight)
	}
	if p.Action == writePromote {
		transform = func(vs *vsObj) ([]byte, bool, error) { return istio.Promote(vs, w.target, p.Stable, p.Canary) }
	}
	o := r.writeAll(ctx, w, vss, client.ObjectKeyFromObject(ts), p.Weight, transform)
	r.notePending(ts, w.svc, pendingAfter(p, p.Action, p.Stable, p.Canary, p.Weight, o, now))
	return nil
}

// join writes the rollout's weight into VirtualServices that began routing to the host
// mid-rollout; those that take it become the rollout's. The others are tried again on
// the next tick.
func (r *Reconciler) join(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, t lifecycle.Transition) {
	w.joined = true
	var vss []*vsObj
	for _, vs := range w.vss {
		if slices.Contains(t.VirtualServices, vs.Name) {
			vss = append(vss, vs)
		}
	}
	o := r.writeAll(ctx, w, vss, client.ObjectKeyFromObject(ts), t.Weight, func(vs *vsObj) ([]byte, bool, error) {
		return istio.SetWeight(vs, w.target, t.Stable, t.Canary, t.Weight)
	})
	st := &ts.Status
	for _, name := range append(o.Written, o.Unchanged...) {
		if !slices.Contains(st.VirtualServices, name) {
			st.VirtualServices = append(st.VirtualServices, name)
		}
	}
	slices.Sort(st.VirtualServices)
	if len(o.Written)+len(o.Unchanged) > 0 {
		r.events(ts, w.svc, t.Events)
	}
	for _, f := range o.Failed {
		r.event(ts, w.svc, corev1.EventTypeWarning, reason.WriteFailed, "Join",
			"VirtualService %s did not take canary weight %d when joining the rollout (retried next tick): %s", f.Name, t.Weight, f.Err)
	}
}

// errStepNotWritten: a step's write did not reach every VirtualService and was undone.
var errStepNotWritten = errors.New("the step's write did not reach every VirtualService")

// undoStep sets the VirtualServices that took a step's write (o.Written) back to the
// weight before it, so that no step is left half-applied, and says so in the status
// (the RoutesWritten condition, the last decision) and a Warning Event. VirtualServices
// the undo cannot reach become the status's pending write.
func (r *Reconciler) undoStep(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, t lifecycle.Transition, o istio.Outcome, prev int32, now time.Time) {
	var written []*vsObj
	for _, vs := range w.vss {
		if slices.Contains(o.Written, vs.Name) {
			written = append(written, vs)
		}
	}
	undo := r.writeAll(ctx, w, written, client.ObjectKeyFromObject(ts), prev, func(vs *vsObj) ([]byte, bool, error) {
		return istio.SetWeight(vs, w.target, t.Stable, t.Canary, prev)
	})
	fails := make([]string, len(o.Failed))
	for i, f := range o.Failed {
		fails[i] = fmt.Sprintf("%s: %s", f.Name, f.Err)
	}
	msg := fmt.Sprintf("canary weight %d (step %d) did not reach every VirtualService (%s)", t.Weight, t.Step, strings.Join(fails, "; "))
	switch {
	case len(written) == 0:
		msg += "; no other VirtualService took it"
	case undo.Complete():
		msg += fmt.Sprintf("; %s set back to weight %d", strings.Join(o.Written, ", "), prev)
	default:
		msg += fmt.Sprintf("; setting %s back to weight %d is pending", strings.Join(failingNames(undo), ", "), prev)
	}
	msg += "; the step is tried again"
	ts.Status.LastDecision = &sluicev1alpha1.Decision{Action: string(lifecycle.Hold), Reason: reason.StepWriteUndone, Message: msg, Time: timePtr(now)}
	setCondition(ts, sluicev1alpha1.ConditionRoutesWritten, false, reason.StepWriteUndone, msg)
	r.event(ts, w.svc, corev1.EventTypeWarning, reason.StepWriteUndone, "Write", "%s", msg)
	if !undo.Complete() {
		r.notePending(ts, w.svc, pendingAfter(ts.Status.PendingWrite, writeUndo, t.Stable, t.Canary, prev, undo, now))
	}
}

func failingNames(o istio.Outcome) []string {
	names := make([]string, len(o.Failed))
	for i, f := range o.Failed {
		names[i] = f.Name
	}
	return names
}

// writesComplete marks a write that reached every VirtualService: a RoutesWritten
// condition left False by an earlier failure turns True.
func (r *Reconciler) writesComplete(ts *sluicev1alpha1.TrafficShift, weight int32) {
	if c := meta.FindStatusCondition(ts.Status.Conditions, sluicev1alpha1.ConditionRoutesWritten); c != nil && c.Status == metav1.ConditionFalse && ts.Status.PendingWrite == nil {
		setCondition(ts, sluicev1alpha1.ConditionRoutesWritten, true, reason.RoutesWritten, fmt.Sprintf("every VirtualService holds canary weight %d", weight))
	}
}
