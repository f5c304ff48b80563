package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/sluicedev/sluice/pkg/cli/plan"
)

const planLong = `Runs the transform sluice's controller applies to VirtualServices, offline, on every
VirtualService document of FILE ("-" reads stdin; several documents and v1 Lists are
fine): the JSON patch sluice would send (with the test ops that make a concurrent edit
fail it), and how each http route to the host is treated — managed (weights shifted),
left alone (pinned to another subset, or sent to the host without a subset), refused
(traffic split in a way sluice will not shift) — each with its reason. Reviewers and
GitOps pipelines see exactly what sluice would change.

--weight sets the canary weight of a step (0 is a rollback); --promote plans the end of a
rollout. Without --stable, the stable subset is read from the routes, as sluice does when
sluice.dev/stable is unset. Without --host, each VirtualService is planned for its own
single host. VirtualServices without a namespace are taken to be in -n (default
"default").

-o yaml|json|name|jsonpath=…|go-template=… prints the patched objects instead (the
route summary then goes to stderr). Input that sluice would not accept — invalid YAML,
fields a VirtualService does not have, weights that do not sum to 100, a host no route
serves, no route sluice may shift — is an error (unknown fields: see --validate): a message on stderr, exit code 1 and
nothing on stdout.`

func (r *root) newPlanCommand() *cobra.Command {
	var o plan.Options
	var file, validate string
	printFlags := genericclioptions.NewPrintFlags("")
	cmd := &cobra.Command{
		Use:   "plan -f FILE|- --canary SUBSET (--weight W | --promote) [--stable SUBSET] [--host HOST]",
		Short: "Show the VirtualService patch sluice would write, offline",
		Long:  planLong,
		Example: `  kubectl sluice plan -f reviews-vs.yaml --canary v2 --weight 25
  kubectl get vs reviews -o yaml | kubectl sluice plan -f - --host reviews --stable v1 --canary v2 --weight 50 -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			weightSet := c.Flags().Changed("weight")
			switch {
			case file == "":
				return usageErrorf(ExitUsage, "plan: -f FILE (or -f - for stdin) is required")
			case weightSet == o.Promote:
				return usageErrorf(ExitUsage, "plan: give either --weight W or --promote")
			}
			if err := o.Validate(); err != nil {
				return usageErrorf(ExitUsage, "plan: %w", err)
			}
			validation, err := plan.ParseValidation(validate)
			if err != nil {
				return usageErrorf(ExitUsage, "plan: %w", err)
			}
			format := *printFlags.OutputFormat
			var printer interface {
				PrintObj(runtime.Object, io.Writer) error
			}
			if format != "" {
				p, err := printFlags.ToPrinter()
				if err != nil {
					return usageErrorf(ExitUsage, "plan: %w", err)
				}
				printer = p
			}
			if ns := *r.config.Namespace; ns != "" {
				o.Namespace = ns
			}
			data, err := readInput(file, r.streams.In)
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			in, err := plan.Decode(data, validation)
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			for _, w := range in.Warnings {
				fmt.Fprintf(r.streams.ErrOut, "warning: %s\n", w)
			}
			skipped := in.Skipped
			results, err := plan.Run(in.Docs, o)
			if err != nil {
				return fmt.Errorf("plan: %w", err)
			}
			var out bytes.Buffer
			if printer == nil {
				if err := plan.WriteSummary(&out, results, skipped, o); err != nil {
					return err
				}
				if err := plan.WritePatches(&out, results); err != nil {
					return err
				}
			} else {
				if err := printAfter(&out, printer, format, results); err != nil {
					return fmt.Errorf("plan: %w", err)
				}
				if err := plan.WriteSummary(r.streams.ErrOut, results, skipped, o); err != nil {
					return err
				}
			}
			_, err = r.streams.Out.Write(out.Bytes())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "filename", "f", "", "file with the VirtualService(s); - reads stdin")
	f.StringVar(&o.Host, "host", "", "the Service whose traffic shifts: NAME, NAME.NAMESPACE or its FQDN (default: each VirtualService's only host)")
	f.StringVar(&o.Stable, "stable", "", "the stable subset (default: read from the routes)")
	f.StringVar(&o.Canary, "canary", "", "the canary subset")
	f.Int32Var(&o.Weight, "weight", 0, "the canary weight to set, 0–100 (0 rolls back)")
	f.StringVar(&validate, "validate", "strict", "fields a VirtualService does not have: strict (an error, as kubectl apply), warn, or ignore")
	f.BoolVar(&o.Promote, "promote", false, "plan the promotion: the canary alone at 100, the stable destination removed")
	printFlags.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = "print the patched objects: yaml, json, name, jsonpath=…, go-template=… (default: the route summary and the JSON patch)"
	return cmd
}

// readInput reads file, or stdin for "-", up to plan.MaxInput bytes.
func readInput(file string, stdin io.Reader) ([]byte, error) {
	var rd io.Reader = stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("reading the input: %w", err)
		}
		defer f.Close()
		rd = f
	}
	data, err := io.ReadAll(io.LimitReader(rd, plan.MaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading the input: %w", err)
	}
	return data, nil
}

// printAfter prints the patched documents: one object, or (for JSON and the templates)
// a v1 List when there are several; YAML prints them as a multi-document stream.
func printAfter(out io.Writer, printer interface {
	PrintObj(runtime.Object, io.Writer) error
}, format string, results []plan.Result) error {
	var objs []*unstructured.Unstructured
	for _, r := range results {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(r.After); err != nil {
			return fmt.Errorf("decoding the patched VirtualService %s: %w", r.ID(), err)
		}
		objs = append(objs, u)
	}
	if len(objs) == 1 || format == "yaml" || format == "name" {
		for _, u := range objs {
			if err := printer.PrintObj(u, out); err != nil {
				return err
			}
		}
		return nil
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{"apiVersion": "v1", "kind": "List"}}
	for _, u := range objs {
		list.Items = append(list.Items, *u)
	}
	return printer.PrintObj(list, out)
}
