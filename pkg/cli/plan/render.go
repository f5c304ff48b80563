package plan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteSummary writes, per VirtualService, the target, subsets and how each route to
// the host is treated (with the weights before → after and the reason), and the
// documents that were skipped.
func WriteSummary(out io.Writer, results []Result, skipped []Skipped, o Options) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		if !r.RoutesToHost {
			fmt.Fprintf(tw, "VirtualService %s (document %d): no http route sends to %s; left alone\n", r.ID(), r.Document, r.Host)
			continue
		}
		stable := r.Stable
		if r.StableInferred {
			stable += " (read from the routes)"
		}
		what := fmt.Sprintf("canary weight %d", o.Weight)
		if o.Promote {
			what = "promote"
		}
		fmt.Fprintf(tw, "VirtualService %s (document %d): host %s, stable %s, canary %s, %s\n", r.ID(), r.Document, r.Host, stable, r.Canary, what)
		fmt.Fprintln(tw, "  ROUTE\tKIND\tTREATMENT\tSTABLE\tCANARY\tREASON")
		for _, rt := range r.Routes {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", routeRef(rt.Index, rt.Name), rt.Kind, rt.Treatment,
				change(rt.StableBefore, rt.StableAfter, rt.Treatment), change(rt.CanaryBefore, rt.CanaryAfter, rt.Treatment), dash(rt.Reason))
		}
		if r.Patch == nil {
			fmt.Fprintln(tw, "  no change: the routes already have these weights")
		}
	}
	for _, s := range skipped {
		fmt.Fprintf(tw, "\nskipped document %d: %s %s (plan reads VirtualServices only)\n", s.Index, s.Kind, s.Name)
	}
	return tw.Flush()
}

// WritePatches writes each VirtualService's JSON patch, one operation per line.
func WritePatches(out io.Writer, results []Result) error {
	for _, r := range results {
		if r.Patch == nil {
			continue
		}
		var ops []json.RawMessage
		if err := json.Unmarshal(r.Patch, &ops); err != nil {
			return fmt.Errorf("reading the patch of %s: %w", r.ID(), err)
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "\nJSON patch of VirtualService %s (RFC 6902; the test ops pin what was read):\n[\n", r.ID())
		for i, op := range ops {
			b.WriteString("  ")
			b.Write(op)
			if i < len(ops)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("]\n")
		if _, err := out.Write(b.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

func change(before, after int32, t Treatment) string {
	if t != Managed || before == after {
		return fmt.Sprint(before)
	}
	return fmt.Sprintf("%d → %d", before, after)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
