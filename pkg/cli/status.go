package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
	"github.com/sluicedev/sluice/pkg/spec"
)

const statusLong = `Without a Service name: a table of the opted-in Services (sluice.dev/enabled=true) of the
namespace (-A: of every namespace, -l: only those whose labels match) with the state of
their rollouts, read from their TrafficShifts.

With a Service name: the rollout state sluice keeps in the Service's TrafficShift: phase,
stable → canary, step i/n and canary weight, the last decision (reason and message), the
latest per-subset window (requests, errors, error rate, p50/p99), the data-plane
confirmation, conditions and the last rollouts.

-o json|yaml|name|jsonpath=…|go-template=… prints the TrafficShift objects (kubectl's
printers); -o wide adds columns to the table.

--watch follows the TrafficShifts. On a terminal it redraws in place: for one Service the
step ladder with the current position, the live per-subset window, the last decisions and
the data-plane confirmation; for a list, the table. When stdout is not a terminal (a pipe,
a CI log) it prints one line per change instead. Ctrl-C ends it.`

// statusOptions are the flags of status.
type statusOptions struct {
	allNamespaces bool
	selector      string
	watch         bool
	print         *genericclioptions.PrintFlags
}

func (r *root) newStatusCommand() *cobra.Command {
	o := &statusOptions{print: genericclioptions.NewPrintFlags("").WithTypeSetter(scheme)}
	cmd := &cobra.Command{
		Use:   "status [SERVICE]",
		Short: "Rollout state of one Service, or a table of every opted-in Service",
		Long:  statusLong,
		Example: `  kubectl sluice status                 # the opted-in Services of the namespace
  kubectl sluice status -A -o wide      # of every namespace, with more columns
  kubectl sluice status reviews --watch # follow one rollout live
  kubectl sluice status reviews -o jsonpath='{.status.phase}'`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf(ExitUsage, "expected at most one Service name, got %q\nSee '%s --help'.", args, c.CommandPath())
			}
			return nil
		},
		ValidArgsFunction: r.completeServices,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 1 && (o.allNamespaces || o.selector != "") {
				return usageErrorf(ExitUsage, "-A and -l list Services; they do not go with a Service name")
			}
			sel, err := labels.Parse(o.selector)
			if err != nil {
				return usageErrorf(ExitUsage, "-l %q: %w", o.selector, err)
			}
			format := *o.print.OutputFormat
			var printer printers.ResourcePrinter
			if format != "" && format != "wide" {
				if printer, err = o.print.ToPrinter(); err != nil {
					return usageErrorf(ExitUsage, "%w", err)
				}
			}
			s, err := r.connect()
			if err != nil {
				return err
			}
			v := &statusView{s: s, out: r.streams.Out, wide: format == "wide", printer: printer, format: format, selector: sel, now: time.Now}
			if o.allNamespaces {
				v.ns = ""
			} else {
				v.ns = s.ns
			}
			ctx := c.Context()
			if len(args) == 1 {
				if o.watch {
					return v.watchOne(ctx, args[0], isTerminal(r.streams.Out))
				}
				return v.one(ctx, args[0])
			}
			if o.watch {
				return v.watchList(ctx, isTerminal(r.streams.Out))
			}
			return v.list(ctx)
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the opted-in Services of every namespace")
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "only Services whose labels match this selector (e.g. team=payments)")
	cmd.Flags().BoolVarP(&o.watch, "watch", "w", false, "follow changes (redraws on a terminal, one line per change otherwise)")
	o.print.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: wide, json, yaml, name, jsonpath=…, go-template=… (default: a table, or the detail view for one Service)"
	return cmd
}

// isTerminal reports whether w is a terminal (the redrawing watch).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// statusView renders TrafficShifts for status.
type statusView struct {
	s        *session
	ns       string // "" = every namespace
	out      io.Writer
	wide     bool
	printer  printers.ResourcePrinter // nil = sluice's own tables
	format   string                   // the -o value
	selector labels.Selector
	now      func() time.Time
}

// one prints the detail view of Service name.
func (v *statusView) one(ctx context.Context, name string) error {
	svc, err := v.s.service(ctx, name)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	ts, err := v.s.shift(ctx, name)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if v.printer != nil {
		return v.print(ts)
	}
	return renderStatus(v.out, ts, v.s.stepCount(ctx, svc), v.now())
}

// print prints obj with the -o printer, without managedFields (as kubectl does by default).
func (v *statusView) print(obj runtime.Object) error {
	obj = obj.DeepCopyObject()
	switch o := obj.(type) {
	case *sluicev1alpha1.TrafficShift:
		o.ManagedFields = nil
	case *sluicev1alpha1.TrafficShiftList:
		for i := range o.Items {
			o.Items[i].ManagedFields = nil
			o.Items[i].SetGroupVersionKind(sluicev1alpha1.GroupVersion.WithKind("TrafficShift"))
		}
	}
	if l, ok := obj.(*sluicev1alpha1.TrafficShiftList); ok && v.format == "name" {
		// kubectl's name printer takes objects one by one.
		for i := range l.Items {
			if err := v.printer.PrintObj(&l.Items[i], v.out); err != nil {
				return fmt.Errorf("status: printing: %w", err)
			}
		}
		return nil
	}
	if err := v.printer.PrintObj(obj, v.out); err != nil {
		return fmt.Errorf("status: printing: %w", err)
	}
	return nil
}

// row is one opted-in Service and its TrafficShift (nil before sluice picked it up).
type row struct {
	svc   *corev1.Service
	ts    *sluicev1alpha1.TrafficShift
	steps schedule.Schedule
}

// rows reads the opted-in Services that match the selector and their TrafficShifts.
func (v *statusView) rows(ctx context.Context) ([]row, error) {
	svcs := &corev1.ServiceList{}
	if err := v.s.c.List(ctx, svcs, client.InNamespace(v.ns), client.MatchingLabelsSelector{Selector: v.selector}); err != nil {
		return nil, fmt.Errorf("status: listing Services%s: %w", inNamespace(v.ns), err)
	}
	shifts := &sluicev1alpha1.TrafficShiftList{}
	if err := v.s.c.List(ctx, shifts, client.InNamespace(v.ns)); err != nil {
		return nil, fmt.Errorf("status: listing TrafficShifts%s: %w", inNamespace(v.ns), err)
	}
	byKey := map[client.ObjectKey]*sluicev1alpha1.TrafficShift{}
	for i := range shifts.Items {
		ts := &shifts.Items[i]
		byKey[client.ObjectKeyFromObject(ts)] = ts
	}
	var out []row
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if !spec.Enabled(svc.Annotations) {
			continue
		}
		out = append(out, row{svc: svc, ts: byKey[client.ObjectKeyFromObject(svc)], steps: v.s.steps(ctx, svc)})
	}
	sortRows(out)
	return out, nil
}

// sortRows orders rows by namespace, then Service name.
func sortRows(rows []row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].svc.Namespace != rows[j].svc.Namespace {
			return rows[i].svc.Namespace < rows[j].svc.Namespace
		}
		return rows[i].svc.Name < rows[j].svc.Name
	})
}

func inNamespace(ns string) string {
	if ns == "" {
		return " in every namespace"
	}
	return " in namespace " + ns
}

// list prints the table of opted-in Services (or their TrafficShifts with -o).
func (v *statusView) list(ctx context.Context) error {
	rows, err := v.rows(ctx)
	if err != nil {
		return err
	}
	if v.printer != nil {
		l := &sluicev1alpha1.TrafficShiftList{}
		for _, r := range rows {
			if r.ts != nil {
				l.Items = append(l.Items, *r.ts)
			}
		}
		return v.print(l)
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintf(v.out, "No opted-in Services found%s.\n", inNamespace(v.ns))
		return err
	}
	return renderTable(v.out, rows, v.wide, v.now())
}
