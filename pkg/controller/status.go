package controller

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/window"
)

func timePtr(t time.Time) *metav1.Time { mt := metav1.NewTime(t); return &mt }

func microPtr(t time.Time) *metav1.MicroTime { mt := metav1.NewMicroTime(t); return &mt }

func startedAt(st *sluicev1alpha1.TrafficShiftStatus) *metav1.Time {
	if st.RolloutStartedAt == nil {
		return nil
	}
	return timePtr(st.RolloutStartedAt.Time)
}

func (r *Reconciler) writeStatus(ctx context.Context, ts *sluicev1alpha1.TrafficShift) error {
	ts.Status.ObservedGeneration = ts.Generation
	if err := r.Client.Status().Update(ctx, ts); err != nil {
		if apierrors.IsConflict(err) {
			r.stale(ts)
		}
		return fmt.Errorf("updating TrafficShift %s/%s status: %w", ts.Namespace, ts.Name, err)
	}
	r.wrote(ts)
	if rm := r.mem.peek(client.ObjectKeyFromObject(ts)); rm != nil {
		rm.lastStatus = r.Clock.Now()
	}
	r.setPhaseMetric(ts)
	return nil
}

func (r *Reconciler) writeStatusIfChanged(ctx context.Context, ts *sluicev1alpha1.TrafficShift, before *sluicev1alpha1.TrafficShiftStatus) error {
	if equality.Semantic.DeepEqual(before, &ts.Status) {
		return nil
	}
	return r.writeStatus(ctx, ts)
}

// DefaultStatusEvery is how often a steady rollout's status window is refreshed when
// nothing else changed (Reconciler.StatusEvery, --status-every).
const DefaultStatusEvery = 5 * time.Second

// DefaultStatusRefreshRate is how many window-only status refreshes per second all
// rollouts together may write (Reconciler.StatusRefreshRate, --status-refresh-rate).
// Each status write costs the API server ~12-15 ms of CPU on a 2-core machine
// (bench/scale), so 1,000 rollouts refreshed every 5 s would take it 2.5-3 cores.
const DefaultStatusRefreshRate = 20.0

// writeTickStatus writes after a tick when anything but the window changed (phase, step,
// weight, conditions, the decision's reason, …), and otherwise refreshes the window, the
// step's request count and the decision's message at most every StatusEvery: a steady
// rollout costs one status write per 5 s rather than one per tick. With more active
// rollouts than StatusRefreshRate × StatusEvery, the refreshes are spread further apart
// (refreshEvery), and a refresh is written only when the shared budget (refreshBudget)
// has room: otherwise a later tick writes it.
func (r *Reconciler) writeTickStatus(ctx context.Context, ts *sluicev1alpha1.TrafficShift, before *sluicev1alpha1.TrafficShiftStatus, rm *rolloutMemory, now time.Time) error {
	every := r.StatusEvery
	if every <= 0 {
		every = DefaultStatusEvery
	}
	rate := r.StatusRefreshRate
	if rate == 0 {
		rate = DefaultStatusRefreshRate
	}
	switch tickStatus(before, &ts.Status, now.Sub(rm.lastStatus), refreshEvery(every, r.mem.size(), rate)) {
	case statusChanged:
		return r.writeStatus(ctx, ts)
	case statusRefreshDue:
		if r.refreshes.allow(rate, now) {
			return r.writeStatus(ctx, ts)
		}
	}
	return nil
}

// statusWrite is what a tick's status needs.
type statusWrite int

const (
	// statusCurrent: nothing to write.
	statusCurrent statusWrite = iota
	// statusRefreshDue: only the window moved, and the last write is old enough for a
	// refresh.
	statusRefreshDue
	// statusChanged: something besides the window changed; written at once.
	statusChanged
)

// tickStatus says what a tick's status needs: a write when anything but the window, the
// step's request count and the messages of the decision and the conditions (under the
// same reason and status) changed from before; a refresh when the last write is at least
// every old; otherwise nothing. Messages carry the tick's figures (how many endpoints
// answered, what a caller said): were they changes, one caller's failed page would have
// every rollout reading it write its status at once (at 1,000, seconds of nothing but
// status writes).
func tickStatus(before, after *sluicev1alpha1.TrafficShiftStatus, sinceWrite, every time.Duration) statusWrite {
	probe := *after // only compared: a shallow copy shares after's parts unchanged
	probe.Window, probe.StepRequests = before.Window, before.StepRequests
	if probe.LastDecision != nil && before.LastDecision != nil && probe.LastDecision.Reason == before.LastDecision.Reason {
		probe.LastDecision = before.LastDecision
	}
	if sameButMessages(before.Conditions, after.Conditions) {
		probe.Conditions = before.Conditions
	}
	switch {
	case !equality.Semantic.DeepEqual(before, &probe):
		return statusChanged
	case sinceWrite >= every:
		return statusRefreshDue
	}
	return statusCurrent
}

// sameButMessages reports whether two condition lists differ at most in their messages.
func sameButMessages(a, b []metav1.Condition) bool {
	return slices.EqualFunc(a, b, func(x, y metav1.Condition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason &&
			x.ObservedGeneration == y.ObservedGeneration && x.LastTransitionTime.Equal(&y.LastTransitionTime)
	})
}

// markInvalid records bad input: Invalid phase, Ready=False, one Event per new message.
// Weights are left exactly as they are. before is the status as read.
func (r *Reconciler) markInvalid(ctx context.Context, w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, now time.Time) error {
	before := tk.before
	ts.Status.Phase = sluicev1alpha1.PhaseInvalid
	setCondition(ts, sluicev1alpha1.ConditionReady, false, t.Reason, t.Message)
	ts.Status.LastDecision = decision(t, r.Clock.Now())
	prev := meta.FindStatusCondition(before.Conditions, sluicev1alpha1.ConditionReady)
	if prev == nil || prev.Message != t.Message || before.Phase != sluicev1alpha1.PhaseInvalid {
		r.event(ts, nil, corev1.EventTypeWarning, t.Reason, "Validate", "%s", t.Message)
		// Users write the annotations on the Service, and `kubectl describe service` lists
		// only Events regarding it: say it there too.
		if svc := owningService(ts); svc != nil && r.Recorder != nil {
			r.Recorder.Eventf(svc, ts, corev1.EventTypeWarning, t.Reason, "Validate", "%s", truncate(t.Message, maxEventNote))
		}
		r.note(w, ts, tk, t, ts.Status.Weight, now)
	}
	if before.LastDecision != nil && before.Phase == sluicev1alpha1.PhaseInvalid && before.LastDecision.Message == t.Message {
		ts.Status.LastDecision = before.LastDecision
	}
	return r.writeStatusIfChanged(ctx, ts, before)
}

// owningService is a reference to the Service that owns ts (name, namespace and UID, all
// an Event needs), nil when ts has no such owner.
func owningService(ts *sluicev1alpha1.TrafficShift) *corev1.Service {
	for _, o := range ts.OwnerReferences {
		if o.Kind == "Service" && o.APIVersion == "v1" {
			return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ts.Namespace, UID: o.UID}}
		}
	}
	return nil
}

func setCondition(ts *sluicev1alpha1.TrafficShift, typ string, ok bool, reason, msg string) {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&ts.Status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: truncate(msg, maxConditionMessage), ObservedGeneration: ts.Generation,
	})
}

// The API server refuses Event notes over 1024 bytes and condition messages over 32768.
const (
	maxEventNote        = 1024
	maxConditionMessage = 4096
)

// truncate shortens s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func (r *Reconciler) event(ts *sluicev1alpha1.TrafficShift, svc *corev1.Service, typ, why, action, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	note := truncate(fmt.Sprintf(format, args...), maxEventNote)
	if svc == nil {
		r.Recorder.Eventf(ts, nil, typ, why, action, "%s", note)
		return
	}
	r.Recorder.Eventf(ts, svc, typ, why, action, "%s", note)
}

// noteRoutes records which VirtualServices and routes are managed (leaving out those yet
// to join the rollout), and reports routes that bypass the shift and VirtualServices
// that are ignored, with an Event when their set changes.
func (r *Reconciler) noteRoutes(w *world, ts *sluicev1alpha1.TrafficShift, rt routing, joining []string) {
	st := &ts.Status
	names := make([]string, 0, len(rt.canaryWeights))
	for name := range rt.canaryWeights {
		if !slices.Contains(joining, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	st.VirtualServices = names
	st.ManagedRoutes = rt.managed
	newBypass := !equality.Semantic.DeepEqual(st.BypassRoutes, rt.bypass) && len(rt.bypass) > 0
	st.BypassRoutes = rt.bypass
	if newBypass {
		r.event(ts, w.svc, corev1.EventTypeWarning, reason.RoutesBypassShift, "Inspect",
			"%d route(s) send to %s without a subset and bypass the shift: %s", len(rt.bypass), w.target.FQDN(), routeList(rt.bypass))
	}
	newIgnored := !equality.Semantic.DeepEqual(st.IgnoredVirtualServices, rt.ignored) && len(rt.ignored) > 0
	st.IgnoredVirtualServices = rt.ignored
	if newIgnored {
		parts := make([]string, len(rt.ignored))
		for i, ig := range rt.ignored {
			parts[i] = ig.Name + " (" + ig.Reason + ")"
		}
		r.event(ts, w.svc, corev1.EventTypeWarning, reason.VirtualServicesIgnored, "Inspect",
			"%d VirtualService(s) route to %s without a route sluice shifts; they are left as they are: %s", len(rt.ignored), w.target.FQDN(), strings.Join(parts, "; "))
	}
}

func routeList(refs []sluicev1alpha1.RouteRef) string {
	s := ""
	for i, r := range refs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s http[%d]", r.VirtualService, r.Index)
		if r.Name != "" {
			s += " (" + r.Name + ")"
		}
	}
	return s
}

// noteObservable keeps the Observable condition and a StatsUnavailable Event in step with
// whether the canary's stats can be read.
func (r *Reconciler) noteObservable(ts *sluicev1alpha1.TrafficShift, w *world, c window.Stats, note string) {
	ok := c.Pods > 0
	msg := fmt.Sprintf("reading stats of canary %q from %d endpoint(s)", ts.Status.Canary, c.Pods)
	if !ok {
		msg = fmt.Sprintf("no usable stats for canary %q from any of %d endpoint(s)", ts.Status.Canary, c.FailedPods)
		if c.FailedPods == 0 {
			msg = fmt.Sprintf("canary %q has no Ready pods with an IP to read stats from", ts.Status.Canary)
		}
	}
	if note != "" {
		msg += "; " + note
	}
	prev := meta.FindStatusCondition(ts.Status.Conditions, sluicev1alpha1.ConditionObservable)
	if !ok && (prev == nil || prev.Status == metav1.ConditionTrue) {
		r.event(ts, w.svc, corev1.EventTypeWarning, reason.StatsUnavailable, "Observe", "%s", msg)
	}
	why := reason.StatsAvailable
	if !ok {
		why = reason.StatsUnavailable
	}
	setCondition(ts, sluicev1alpha1.ConditionObservable, ok, why, msg)
}

// windowStatus is both subsets' window for the status, with their latency at q, the
// quantile the latency guard judges.
func windowStatus(stable, canary string, c, s window.Stats, q float64) *sluicev1alpha1.WindowStatus {
	return &sluicev1alpha1.WindowStatus{
		Seconds: strconv.FormatFloat(max(c.Span, s.Span).Seconds(), 'f', 1, 64),
		Stable:  subsetWindow(stable, s, q),
		Canary:  subsetWindow(canary, c, q),
	}
}

func subsetWindow(name string, s window.Stats, q float64) *sluicev1alpha1.SubsetWindow {
	sw := &sluicev1alpha1.SubsetWindow{
		Subset: name, Requests: int64(s.Requests), Errors: int64(s.Errors()),
		Pods: int32(s.Pods), FailedPods: int32(s.FailedPods),
	}
	if s.Requests > 0 {
		sw.ErrorRate = strconv.FormatFloat(s.ErrorRate(), 'f', 4, 64)
	}
	if !math.IsNaN(s.P50) && s.P50 > 0 {
		sw.P50Millis = strconv.FormatFloat(s.P50, 'f', 1, 64)
	}
	if !math.IsNaN(s.P99) && s.P99 > 0 {
		sw.P99Millis = strconv.FormatFloat(s.P99, 'f', 1, 64)
	}
	sw.Quantile = strconv.FormatFloat(q, 'f', -1, 64)
	if v := s.Quantile(q); !math.IsNaN(v) && v > 0 {
		sw.LatencyMillis = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return sw
}

func (r *Reconciler) setWeightMetric(ts *sluicev1alpha1.TrafficShift, w int32) {
	if r.Metrics != nil {
		r.Metrics.CanaryWeight.WithLabelValues(ts.Namespace, ts.Name).Set(float64(w))
	}
}

// phases are the values of the sluice_rollout_phase gauge's phase label.
var phases = []sluicev1alpha1.Phase{sluicev1alpha1.PhaseIdle, sluicev1alpha1.PhaseProgressing, sluicev1alpha1.PhasePaused,
	sluicev1alpha1.PhasePromoted, sluicev1alpha1.PhaseRolledBack, sluicev1alpha1.PhaseInvalid}

// setPhaseMetric sets 1 for ts's phase and 0 for the others.
func (r *Reconciler) setPhaseMetric(ts *sluicev1alpha1.TrafficShift) {
	if r.Metrics == nil {
		return
	}
	for _, p := range phases {
		v := 0.0
		if p == ts.Status.Phase {
			v = 1
		}
		r.Metrics.Phase.WithLabelValues(ts.Namespace, ts.Name, string(p)).Set(v)
	}
}
