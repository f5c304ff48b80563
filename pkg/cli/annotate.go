package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
	"github.com/sluicedev/sluice/pkg/reason"
	"github.com/sluicedev/sluice/pkg/spec"
)

// operatorPause is the status.pausedReason of a rollout paused by sluice.dev/paused
// (the controller's pausedByOperator).
const operatorPause = reason.OperatorPause

// annotateCmd is one of the commands that steer a rollout through Service annotations.
type annotateCmd string

const (
	cmdPromote annotateCmd = "promote"
	cmdAbort   annotateCmd = "abort"
	cmdPause   annotateCmd = "pause"
	cmdResume  annotateCmd = "resume"
	cmdRetry   annotateCmd = "retry"
)

// annotateHelp is each annotation command's one-line summary and description.
var annotateHelp = map[annotateCmd][2]string{
	cmdPromote: {"Finish the current rollout now (canary to 100 %)", `Finishes the rollout under way now: sets sluice.dev/promote to the canary named in the
TrafficShift status, so the command never applies to a later release. Fails when no
rollout is under way (phase Progressing or Paused).`},
	cmdAbort: {"Roll the current canary back (weight 0)", `Rolls the current canary back (weight 0): sets sluice.dev/abort to the canary named in the
TrafficShift status. Fails when no rollout is under way (phase Progressing or Paused).`},
	cmdPause: {"Hold the current weight (the guard keeps running)", `Holds the canary weight (the guard keeps running): sets sluice.dev/paused=true. Without a
rollout under way, the next rollout starts paused.`},
	cmdResume: {"Undo pause, retry a rollout paused by the guard, approve a step", `Removes sluice.dev/paused and, when the rollout is paused for another reason than the
operator's pause (the guard, an edit of the weights, …), also sets sluice.dev/retry to
<canary>@<unix-nanos> so that the rollout continues. A rollout awaiting approval at a
step's gate is approved up to that step: sluice.dev/approve=<canary>@<weight>.`},
	cmdRetry: {"Restart a rolled-back or paused rollout of the current canary", `Restarts the rollout of the current canary when it is RolledBack or Paused: sets
sluice.dev/retry to <canary>@<unix-nanos> (a fresh token, so a retry is acted on once).`},
}

// newAnnotateCommand returns the command that steers a rollout with cmd's annotation.
func (r *root) newAnnotateCommand(cmd annotateCmd) *cobra.Command {
	h := annotateHelp[cmd]
	return &cobra.Command{
		Use:               string(cmd) + " SERVICE",
		Short:             h[0],
		Long:              h[1],
		Example:           fmt.Sprintf("  kubectl sluice %s reviews -n shop", cmd),
		Args:              oneService,
		ValidArgsFunction: r.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			s, err := r.connect()
			if err != nil {
				return err
			}
			if err := annotate(c.Context(), s, cmd, args[0], time.Now(), r.streams.Out); err != nil {
				return fmt.Errorf("%s: %w", cmd, err)
			}
			return nil
		},
	}
}

// annotate reads the Service and its TrafficShift, plans the annotation changes and
// writes them as one JSON merge patch of metadata.annotations.
func annotate(ctx context.Context, s *session, cmd annotateCmd, name string, now time.Time, out io.Writer) error {
	svc, err := s.service(ctx, name)
	if err != nil {
		return err
	}
	var st *sluicev1alpha1.TrafficShiftStatus
	ts, err := s.shift(ctx, name)
	switch {
	case err == nil:
		st = &ts.Status
	case !errors.Is(err, errNotFound) || (cmd != cmdPause && cmd != cmdResume):
		return err
	}
	changes, err := planAnnotations(cmd, svc.Annotations, st, now)
	if err != nil {
		return fmt.Errorf("service %s/%s: %w", s.ns, name, err)
	}
	body, err := mergePatch(changes)
	if err != nil {
		return err
	}
	target := &corev1.Service{}
	target.Namespace, target.Name = s.ns, name
	if err := s.c.Patch(ctx, target, client.RawPatch(types.MergePatchType, body)); err != nil {
		return fmt.Errorf("annotating Service %s/%s: %w", s.ns, name, err)
	}
	fmt.Fprintf(out, "service/%s annotated: %s\n", name, describeChanges(changes))
	return nil
}

// planAnnotations returns the annotation changes cmd makes (a nil value removes the key), given
// the Service's annotations and the TrafficShift status (nil when there is none).
func planAnnotations(cmd annotateCmd, ann map[string]string, st *sluicev1alpha1.TrafficShiftStatus, now time.Time) (map[string]*string, error) {
	switch cmd {
	case cmdPromote, cmdAbort:
		if st == nil || st.Canary == "" || !lifecycle.Active(st.Phase) {
			return nil, fmt.Errorf("no rollout under way (%s)", describeState(st))
		}
		key := spec.AnnPromote
		if cmd == cmdAbort {
			key = spec.AnnAbort
		}
		return map[string]*string{key: ptr(st.Canary)}, nil
	case cmdPause:
		return map[string]*string{spec.AnnPaused: ptr("true")}, nil
	case cmdResume:
		changes := map[string]*string{}
		if _, ok := ann[spec.AnnPaused]; ok {
			changes[spec.AnnPaused] = nil
		}
		if st != nil && st.Phase == sluicev1alpha1.PhasePaused && st.PausedReason != operatorPause && st.Canary != "" {
			changes[spec.AnnRetry] = ptr(retryToken(st.Canary, now))
		}
		if st != nil && st.Phase == sluicev1alpha1.PhaseAwaitingApproval && st.Canary != "" {
			changes[spec.AnnApprove] = ptr(fmt.Sprintf("%s@%d", st.Canary, st.Weight))
		}
		if len(changes) == 0 {
			return nil, fmt.Errorf("nothing to resume: %s is not set and no rollout is paused (%s)", spec.AnnPaused, describeState(st))
		}
		return changes, nil
	case cmdRetry:
		if st == nil || st.Canary == "" || (st.Phase != sluicev1alpha1.PhaseRolledBack && st.Phase != sluicev1alpha1.PhasePaused) {
			return nil, fmt.Errorf("nothing to retry: the rollout must be RolledBack or Paused (%s)", describeState(st))
		}
		return map[string]*string{spec.AnnRetry: ptr(retryToken(st.Canary, now))}, nil
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

// retryToken is a sluice.dev/retry value: the canary plus a token unique per retry.
func retryToken(canary string, now time.Time) string {
	return canary + "@" + strconv.FormatInt(now.UnixNano(), 10)
}

// mergePatch renders changes as a JSON merge patch of metadata.annotations.
func mergePatch(changes map[string]*string) ([]byte, error) {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": changes}})
	if err != nil {
		return nil, fmt.Errorf("encoding the annotation patch: %w", err)
	}
	return body, nil
}

func describeChanges(changes map[string]*string) string {
	keys := make([]string, 0, len(changes))
	for k := range changes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		if v := changes[k]; v != nil {
			parts[i] = k + "=" + *v
		} else {
			parts[i] = k + " removed"
		}
	}
	return strings.Join(parts, ", ")
}

func describeState(st *sluicev1alpha1.TrafficShiftStatus) string {
	if st == nil {
		return "no TrafficShift yet"
	}
	return fmt.Sprintf("phase %s, canary %s", orDash(string(st.Phase)), orDash(st.Canary))
}

func ptr[T any](v T) *T { return &v }
