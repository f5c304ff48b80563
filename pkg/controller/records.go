package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/record"
)

// recordEvent is the record a transition makes; "" for none.
func recordEvent(k lifecycle.Kind) record.Event {
	switch k {
	case lifecycle.Start:
		return record.Started
	case lifecycle.Advance:
		return record.StepAdvanced
	case lifecycle.Promote, lifecycle.RecordPromoted:
		return record.Promoted
	case lifecycle.Rollback, lifecycle.Supersede:
		return record.RolledBack
	case lifecycle.Pause:
		return record.Paused
	case lifecycle.Resume, lifecycle.Recover, lifecycle.Approve:
		return record.Resumed
	case lifecycle.AwaitApproval:
		return record.AwaitingApproval
	case lifecycle.MarkInvalid:
		return record.Invalid
	}
	return ""
}

// recordInput is what one record is built from: the transition, the status after it,
// the canary weight before it, and when things happened.
type recordInput struct {
	t                  lifecycle.Transition
	namespace, service string
	cluster            string
	status             *sluicev1alpha1.TrafficShiftStatus
	weightBefore       int32
	steps              int
	decidedAt          time.Time
	writtenAt, faultAt *time.Time
}

// buildRecord is the one record of a transition (pure).
func buildRecord(in recordInput) record.Record {
	st := in.status
	rec := record.Record{
		Event: recordEvent(in.t.Kind), Namespace: in.namespace, Service: in.service, Cluster: in.cluster,
		From:    record.Version{Subset: in.t.Stable},
		To:      record.Version{Subset: in.t.Canary},
		Weight:  record.Weights{Before: in.weightBefore, After: st.Weight},
		Step:    record.Step{Index: st.Step, Of: int32(in.steps)},
		Reason:  in.t.Reason,
		Message: in.t.Message,
		Window:  windowRecord(st.Window),
		Times:   record.Times{DecidedAt: in.decidedAt, WrittenAt: in.writtenAt, FaultAt: in.faultAt},
	}
	if in.t.Kind == lifecycle.MarkInvalid {
		rec.From.Subset, rec.To.Subset = st.Stable, st.Canary
	}
	if rel := st.Release; rel != nil && rel.Canary.Subset == rec.To.Subset {
		rec.From.Images, rec.From.Version = rel.Stable.Images, rel.Stable.Version
		rec.To.Images, rec.To.Version = rel.Canary.Images, rel.Canary.Version
		rec.Release = record.Release{Commit: rel.Commit, Pipeline: rel.Pipeline, URL: rel.URL, By: rel.By}
	}
	for _, a := range st.Alerts {
		if slices.Contains(in.t.Alerts, a.Fingerprint) {
			rec.Alert = &record.Alert{Name: a.Name, Fingerprint: a.Fingerprint, Summary: a.Summary, StartsAt: a.StartsAt.Time, GeneratorURL: a.GeneratorURL}
			if rec.Times.FaultAt == nil {
				start := a.StartsAt.Time
				rec.Times.FaultAt = &start
			}
			break
		}
	}
	rec.ID = recordID(in.namespace, in.service, st)
	return rec
}

// recordID names the status's latest transition: its Service, its rollout and its
// number. A transition decided again after its status write failed gets the same number,
// hence the same id.
func recordID(ns, svc string, st *sluicev1alpha1.TrafficShiftStatus) string {
	started := ""
	if st.RolloutStartedAt != nil {
		started = st.RolloutStartedAt.UTC().Format(time.RFC3339Nano)
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%s/%d", ns, svc, started, st.Transitions)))
	return hex.EncodeToString(sum[:8])
}

// windowRecord turns the status's window (decimal strings) into the record's numbers.
func windowRecord(w *sluicev1alpha1.WindowStatus) *record.Window {
	if w == nil || w.Canary == nil || w.Stable == nil {
		return nil
	}
	num := func(s string) float64 {
		v, _ := strconv.ParseFloat(s, 64)
		return v
	}
	traffic := func(s *sluicev1alpha1.SubsetWindow) record.Traffic {
		return record.Traffic{Requests: s.Requests, Errors: s.Errors, ErrorRate: num(s.ErrorRate), P50Ms: num(s.P50Millis), P99Ms: num(s.P99Millis)}
	}
	return &record.Window{Seconds: num(w.Seconds), Canary: traffic(w.Canary), Stable: traffic(w.Stable)}
}

// note makes the record of a transition just applied to ts: it numbers it in the status
// and keeps it for emit, which sends it once the status is written.
func (r *Reconciler) note(w *world, ts *sluicev1alpha1.TrafficShift, tk *tickState, t lifecycle.Transition, weightBefore int32, now time.Time) {
	if recordEvent(t.Kind) == "" {
		return
	}
	ts.Status.Transitions++
	var fault *time.Time
	if tk.rm != nil && !tk.rm.firstFailAt.IsZero() && t.Kind == lifecycle.Rollback {
		f := tk.rm.firstFailAt
		fault = &f
	}
	tk.records = append(tk.records, buildRecord(recordInput{
		t: t, namespace: w.svc.Namespace, service: w.svc.Name, cluster: r.Cluster, status: &ts.Status,
		weightBefore: weightBefore, steps: len(w.spec.Steps), decidedAt: now, writtenAt: w.writtenAt, faultAt: fault,
	}))
}

// emit sends the records of a reconcile whose status write succeeded: one log line each
// and the notification sinks.
func (r *Reconciler) emit(ctx context.Context, w *world, records []record.Record) {
	for _, rec := range records {
		r.logRecord(ctx, rec)
		r.observeRecord(rec)
		if r.Notifier != nil {
			r.Notifier.Send(rec, r.sinks(ctx, w))
		}
	}
}

// observeRecord counts a record in the rollout metrics.
func (r *Reconciler) observeRecord(rec record.Record) {
	if r.Metrics == nil {
		return
	}
	switch rec.Event {
	case record.Promoted:
		r.Metrics.Rollouts.WithLabelValues("promoted").Inc()
	case record.RolledBack:
		r.Metrics.Rollouts.WithLabelValues("rolled-back").Inc()
		r.Metrics.Rollbacks.WithLabelValues(rec.Reason).Inc()
		if f := rec.Times.FaultAt; f != nil && rec.Alert == nil {
			r.Metrics.Detection.Observe(rec.Times.DecidedAt.Sub(*f).Seconds())
		}
	}
}

// releaseContext is what the rollout of t releases: the annotations' release context for
// its canary, and the images and versions of both subsets' Ready pods.
func (r *Reconciler) releaseContext(ctx context.Context, w *world, stable, canary string) *sluicev1alpha1.ReleaseContext {
	rel := w.spec.Release.For(canary)
	out := &sluicev1alpha1.ReleaseContext{Commit: rel.Commit, Pipeline: rel.Pipeline, URL: rel.URL, By: rel.By}
	for _, s := range []struct {
		subset string
		dst    *sluicev1alpha1.SubsetRelease
	}{{stable, &out.Stable}, {canary, &out.Canary}} {
		s.dst.Subset = s.subset
		pods, err := r.subsetPods(ctx, w, s.subset)
		if err != nil {
			log.FromContext(ctx).V(1).Info("no release context for a subset", "subset", s.subset, "error", err.Error())
			continue
		}
		s.dst.Images, s.dst.Version = podsRelease(pods)
	}
	return out
}

// podsRelease lists the distinct container images of pods, sorted, and their
// app.kubernetes.io/version label when they agree on one.
func podsRelease(pods []corev1.Pod) (images []string, version string) {
	versions := map[string]bool{}
	for _, p := range pods {
		for _, c := range p.Spec.Containers {
			if !slices.Contains(images, c.Image) {
				images = append(images, c.Image)
			}
		}
		versions[p.Labels["app.kubernetes.io/version"]] = true
	}
	slices.Sort(images)
	if len(versions) == 1 {
		for v := range versions {
			version = v
		}
	}
	return images, version
}

// logRecord writes rec as one JSON line whose fields are the record's own (besides the
// logger's level, ts and msg): info, warn for a rollback.
func (r *Reconciler) logRecord(ctx context.Context, rec record.Record) {
	msg := "rollout " + string(rec.Event)
	if r.RecordLog == nil {
		log.FromContext(ctx).Info(msg, "record", rec)
		return
	}
	if rec.Event == record.RolledBack {
		r.RecordLog.Warn(msg, recordFields(rec)...)
		return
	}
	r.RecordLog.Info(msg, recordFields(rec)...)
}

// recordFields are rec's fields as log fields, named and left out as its JSON is.
func recordFields(rec record.Record) []zap.Field {
	f := []zap.Field{zap.String("id", rec.ID), zap.String("event", string(rec.Event)),
		zap.String("namespace", rec.Namespace), zap.String("service", rec.Service)}
	if rec.Cluster != "" {
		f = append(f, zap.String("cluster", rec.Cluster))
	}
	f = append(f, zap.Reflect("from", rec.From), zap.Reflect("to", rec.To), zap.Reflect("weight", rec.Weight),
		zap.Reflect("step", rec.Step), zap.String("reason", rec.Reason), zap.String("message", rec.Message))
	if rec.Window != nil {
		f = append(f, zap.Reflect("window", rec.Window))
	}
	if rec.Alert != nil {
		f = append(f, zap.Reflect("alert", rec.Alert))
	}
	return append(f, zap.Reflect("release", rec.Release), zap.Reflect("times", rec.Times))
}
