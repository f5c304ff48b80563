package analysis

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/reason"
)

// PodState is what one pod's status says about its health.
type PodState struct {
	Name  string
	Ready bool
	// NotReadySince is when the pod's Ready condition last turned false; zero when Ready.
	NotReadySince time.Time
	Containers    []ContainerState
}

// ContainerState is one container's part of it.
type ContainerState struct {
	Name string
	// Waiting is why the container is not running ("CrashLoopBackOff", …); "" when it runs.
	Waiting string
	// Terminated is why its previous run ended ("OOMKilled", "Error", …) and
	// TerminatedAt when; empty for a container that never restarted.
	Terminated   string
	TerminatedAt time.Time
}

// failedWaits are the waiting reasons that mean the container cannot run as it is.
var failedWaits = []string{"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError",
	"CreateContainerError", "InvalidImageName", "RunContainerError"}

// stableRestartSlack is how close in time a stable restart must be to excuse a canary
// restart as shared (a node drain or reboot, not the canary's code).
const stableRestartSlack = 2 * time.Minute

// podHealthCheck trips on the canary's pods themselves, each cause compared with stable so
// that what happens to both (a node drain, a registry outage) is not blamed on the canary:
//   - a container waiting for a reason that means it cannot run (CrashLoopBackOff,
//     ImagePullBackOff, CreateContainerConfigError, …) that no stable pod shows;
//   - a container restart (OOMKilled, Error, …) since the rollout started, with no stable
//     restart within two minutes of it;
//   - more than MaxNotReadyFraction of the canary's pods NotReady for longer than
//     NotReadyFor, while stable's pods are not as bad.
//
// No canary pods is no data: hold.
func podHealthCheck(in Input) (Decision, bool) {
	lim := in.Thresholds.PodHealth
	if lim.Disabled || len(in.CanaryPods) == 0 {
		return Decision{}, false
	}
	msg := failingContainer(in) + restartedContainer(in) + notReady(in)
	if msg == "" {
		return Decision{}, false
	}
	return Decision{Action: failureAction(in.Thresholds.OnFailure), Reason: reason.CanaryPodUnhealthy, Message: strings.TrimSuffix(msg, "; ")}, true
}

func failingContainer(in Input) string {
	for _, p := range in.CanaryPods {
		for _, c := range p.Containers {
			if c.Waiting == "" || !slices.Contains(failedWaits, c.Waiting) || stableShows(in.StablePods, func(s ContainerState) bool { return s.Waiting == c.Waiting }) {
				continue
			}
			return fmt.Sprintf("canary pod %s container %s is in %s (no stable pod is); ", p.Name, c.Name, c.Waiting)
		}
	}
	return ""
}

func restartedContainer(in Input) string {
	if in.RolloutStartedAt.IsZero() {
		return ""
	}
	// Container times have whole seconds (the kubelet writes metav1.Time): a restart in
	// the second the rollout started counts as since it started.
	since := in.RolloutStartedAt.Truncate(time.Second)
	for _, p := range in.CanaryPods {
		for _, c := range p.Containers {
			if c.TerminatedAt.IsZero() || c.TerminatedAt.Before(since) {
				continue
			}
			near := func(s ContainerState) bool {
				d := s.TerminatedAt.Sub(c.TerminatedAt)
				return !s.TerminatedAt.IsZero() && d < stableRestartSlack && d > -stableRestartSlack
			}
			if stableShows(in.StablePods, near) {
				continue
			}
			cause := c.Terminated
			if cause == "" {
				cause = "an unknown cause"
			}
			return fmt.Sprintf("canary pod %s container %s restarted at %s (%s) since the rollout started at %s, and no stable pod restarted then; ",
				p.Name, c.Name, c.TerminatedAt.UTC().Format(time.RFC3339), cause, in.RolloutStartedAt.UTC().Format(time.RFC3339))
		}
	}
	return ""
}

func notReady(in Input) string {
	lim := in.Thresholds.PodHealth
	canary, names := notReadyFraction(in.CanaryPods, in.Now, lim.NotReadyFor)
	if canary <= lim.MaxNotReadyFraction {
		return ""
	}
	if stable, _ := notReadyFraction(in.StablePods, in.Now, lim.NotReadyFor); len(in.StablePods) > 0 && stable > lim.MaxNotReadyFraction {
		return ""
	}
	return fmt.Sprintf("%d of %d canary pods NotReady for over %s (%s), above the %.0f%% allowed; ",
		len(names), len(in.CanaryPods), dur(lim.NotReadyFor), strings.Join(names, ", "), 100*lim.MaxNotReadyFraction)
}

// notReadyFraction is the share of pods NotReady for longer than d at now, and their names.
func notReadyFraction(pods []PodState, now time.Time, d time.Duration) (float64, []string) {
	var names []string
	for _, p := range pods {
		if !p.Ready && !p.NotReadySince.IsZero() && now.Sub(p.NotReadySince) > d {
			names = append(names, p.Name)
		}
	}
	if len(pods) == 0 {
		return 0, nil
	}
	return float64(len(names)) / float64(len(pods)), names
}

func stableShows(pods []PodState, match func(ContainerState) bool) bool {
	for _, p := range pods {
		if slices.ContainsFunc(p.Containers, match) {
			return true
		}
	}
	return false
}
