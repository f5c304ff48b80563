package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// historyColumns are the record fields history prints in columns; any other field a
// record carries (release context, …) is printed in the CONTEXT column as key=value.
var historyColumns = map[string]bool{"canary": true, "stable": true, "result": true, "reason": true, "message": true, "startedAt": true, "finishedAt": true}

func (r *root) newHistoryCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "history SERVICE",
		Short: "Past rollouts of a Service: result, reason, duration, release context",
		Long: `Lists the finished rollouts sluice recorded in the Service's TrafficShift
(status.history, newest first): canary and stable, result, reason, when it finished, how
long it took, the message, and the release context (commit, pipeline, url, by, images)
of the records that carry one.

-o json|yaml prints the records as sluice stored them.`,
		Example:           "  kubectl sluice history reviews -n shop",
		Args:              oneService,
		ValidArgsFunction: r.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return usageErrorf(ExitUsage, "history: -o must be json or yaml (default: a table), not %q", output)
			}
			s, err := r.connect()
			if err != nil {
				return err
			}
			records, err := s.history(c.Context(), args[0])
			if err != nil {
				return fmt.Errorf("history: %w", err)
			}
			return printHistory(r.streams.Out, records, output, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	return cmd
}

// history reads status.history of Service name's TrafficShift as sluice stored it
// (unstructured, so fields newer than this plugin are kept).
func (s *session) history(ctx context.Context, name string) ([]map[string]any, error) {
	if _, err := s.service(ctx, name); err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(sluicev1alpha1.GroupVersion.WithKind("TrafficShift"))
	if err := s.c.Get(ctx, client.ObjectKey{Namespace: s.ns, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("TrafficShift %s/%s (sluice has not picked the Service up yet?): %w", s.ns, name, errNotFound)
		}
		return nil, fmt.Errorf("reading TrafficShift %s/%s: %w", s.ns, name, err)
	}
	raw, _, err := unstructured.NestedSlice(u.Object, "status", "history")
	if err != nil {
		return nil, fmt.Errorf("reading status.history of TrafficShift %s/%s: %w", s.ns, name, err)
	}
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		if m, ok := r.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// printHistory writes the records as a table, or as JSON or YAML.
func printHistory(out io.Writer, records []map[string]any, output string, now time.Time) error {
	switch output {
	case "json", "yaml":
		data, err := json.MarshalIndent(records, "", "    ")
		if err != nil {
			return fmt.Errorf("history: encoding: %w", err)
		}
		if output == "yaml" {
			if data, err = yaml.JSONToYAML(data); err != nil {
				return fmt.Errorf("history: encoding: %w", err)
			}
		} else {
			data = append(data, '\n')
		}
		_, err = out.Write(data)
		return err
	}
	if len(records) == 0 {
		_, err := fmt.Fprintln(out, "No finished rollouts recorded yet.")
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CANARY\tSTABLE\tRESULT\tREASON\tFINISHED\tDURATION\tCONTEXT\tMESSAGE")
	for _, r := range records {
		started, finished := timeField(r, "startedAt"), timeField(r, "finishedAt")
		fin, dur := "?", "?"
		if !finished.IsZero() {
			fin = duration.HumanDuration(now.Sub(finished)) + " ago"
			if !started.IsZero() {
				dur = finished.Sub(started).Round(time.Second).String()
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orDash(str(r, "canary")), orDash(str(r, "stable")), orDash(str(r, "result")),
			orDash(str(r, "reason")), fin, dur, orDash(contextText(r)), str(r, "message"))
	}
	return tw.Flush()
}

func str(r map[string]any, k string) string {
	s, _ := r[k].(string)
	return s
}

func timeField(r map[string]any, k string) time.Time {
	t, err := time.Parse(time.RFC3339, str(r, k))
	if err != nil {
		return time.Time{}
	}
	return t
}

// contextText renders every field of r outside historyColumns as key=value, nested
// objects flattened with dots (release.commit=abc), sorted.
func contextText(r map[string]any) string {
	var parts []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(prefix+"."+k, e)
			}
		case nil:
		default:
			s := fmt.Sprint(x)
			if s != "" {
				parts = append(parts, strings.TrimPrefix(prefix, ".")+"="+s)
			}
		}
	}
	for k, v := range r {
		if !historyColumns[k] {
			walk("."+k, v)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
