package cli

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/pkg/spec"
)

// The release-context annotations a release writes with the canary.
const (
	AnnReleaseCommit   = spec.AnnReleaseCommit
	AnnReleasePipeline = spec.AnnReleasePipeline
	AnnReleaseURL      = spec.AnnReleaseURL
	AnnReleaseBy       = spec.AnnReleaseBy
	releasePrefix      = "sluice.dev/release-"
)

const releaseLong = `Starts the rollout of a canary subset: sets sluice.dev/canary and the release context
(sluice.dev/release-commit, -pipeline, -url, -by, and sluice.dev/release-canary naming the
canary they belong to) in one merge patch of the Service, so
sluice never sees the canary without its context. Release-context annotations of an
earlier release that this one does not set are removed in the same patch.

With --wait it then behaves exactly like "kubectl sluice wait SERVICE --canary SUBSET":
it follows the rollout and exits with wait's codes. Without --wait it exits 0 once the
Service is annotated, 5 on any error.

` + waitExitCodes

// releaseOptions are the flags of release.
type releaseOptions struct {
	canary, commit, pipeline, url, by string
	wait                              bool
	waitOptions
}

func (r *root) newReleaseCommand() *cobra.Command {
	o := &releaseOptions{}
	cmd := &cobra.Command{
		Use:   "release SERVICE --canary SUBSET",
		Short: "Start a rollout: set the canary and the release context in one patch; --wait follows it",
		Long:  releaseLong,
		Example: `  # in CI, after deploying the v2 Deployment:
  kubectl sluice release reviews --canary v2 --commit "$GITHUB_SHA" \
    --pipeline "$GITHUB_RUN_ID" --url "$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID" \
    --by "$GITHUB_ACTOR" --wait --timeout 20m`,
		Args:              oneService,
		ValidArgsFunction: r.completeServices,
		Annotations:       map[string]string{usageCodeAnnotation: strconv.Itoa(ExitError)},
		RunE: func(c *cobra.Command, args []string) error {
			changes, err := o.changes()
			if err != nil {
				return usageErrorf(ExitError, "release: %w", err)
			}
			if err := o.validate(); err != nil {
				return err
			}
			s, err := r.connect()
			if err != nil {
				return withCode(ExitError, fmt.Errorf("release: %w", err))
			}
			if err := r.release(c.Context(), s, args[0], changes); err != nil {
				return withCode(ExitError, fmt.Errorf("release: %w", err))
			}
			if !o.wait {
				return nil
			}
			return r.wait(c.Context(), s, args[0], o.canary, o.waitOptions)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.canary, "canary", "", "the subset to roll out (required)")
	f.StringVar(&o.commit, "commit", "", "the commit being released ("+AnnReleaseCommit+")")
	f.StringVar(&o.pipeline, "pipeline", "", "the CI pipeline or run that releases it ("+AnnReleasePipeline+")")
	f.StringVar(&o.url, "url", "", "a link to the release, e.g. the CI run ("+AnnReleaseURL+")")
	f.StringVar(&o.by, "by", "", "who released it ("+AnnReleaseBy+")")
	f.BoolVar(&o.wait, "wait", false, "then wait for the rollout to end, with wait's exit codes")
	o.bind(f)
	return cmd
}

// changes validates the flags and returns the annotations to set (the release-context
// keys not given map to nil: removed if present).
func (o *releaseOptions) changes() (map[string]*string, error) {
	if o.canary == "" {
		return nil, fmt.Errorf("--canary must name a subset")
	}
	if strings.ContainsFunc(o.canary, func(r rune) bool { return unicode.IsSpace(r) || r == ',' }) {
		return nil, fmt.Errorf("--canary %q: a subset name has no spaces or commas", o.canary)
	}
	changes := map[string]*string{spec.AnnCanary: ptr(o.canary), spec.AnnReleaseCanary: ptr(o.canary)}
	for _, f := range []struct{ key, flag, v string }{
		{AnnReleaseCommit, "--commit", o.commit}, {AnnReleasePipeline, "--pipeline", o.pipeline},
		{AnnReleaseURL, "--url", o.url}, {AnnReleaseBy, "--by", o.by},
	} {
		if f.v == "" {
			changes[f.key] = nil
			continue
		}
		if strings.ContainsFunc(f.v, unicode.IsControl) {
			return nil, fmt.Errorf("%s %q: control characters are not allowed", f.flag, f.v)
		}
		if len(f.v) > 2048 {
			return nil, fmt.Errorf("%s: %d bytes, at most 2048", f.flag, len(f.v))
		}
		changes[f.key] = ptr(f.v)
	}
	if o.url != "" {
		u, err := url.Parse(o.url)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--url %q: want an absolute http(s) URL", o.url)
		}
	}
	// The controller's own rules, so that a release it would mark Invalid is refused here.
	ann := map[string]string{}
	for k, v := range changes {
		if v != nil {
			ann[k] = *v
		}
	}
	if _, err := spec.Parse(ann, nil); err != nil {
		return nil, err
	}
	return changes, nil
}

// release writes changes, plus the removal of any other stale sluice.dev/release-*
// annotation, as one JSON merge patch of the opted-in Service name.
func (r *root) release(ctx context.Context, s *session, name string, changes map[string]*string) error {
	svc, err := s.service(ctx, name)
	if err != nil {
		return err
	}
	for k := range svc.Annotations {
		if _, set := changes[k]; !set && strings.HasPrefix(k, releasePrefix) {
			changes[k] = nil
		}
	}
	// Report only what changes: removing an absent key is a no-op.
	shown := map[string]*string{}
	for k, v := range changes {
		if _, present := svc.Annotations[k]; v != nil || present {
			shown[k] = v
		}
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
	fmt.Fprintf(r.streams.Out, "service/%s annotated: %s\n", name, describeChanges(shown))
	return nil
}
