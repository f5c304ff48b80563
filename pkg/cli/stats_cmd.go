package cli

import (
	"github.com/spf13/cobra"

	"github.com/sluicedev/sluice/pkg/cli/stats"
)

const statsLong = `Reads an Envoy/Istio stats page (/stats/prometheus, /stats, /stats?format=json) or a
/config_dump from a file, "-" (stdin) or an http(s) URL, auto-detecting the format. No
cluster needed.

With --host: per-subset requests, 2xx/4xx/5xx, error rate and p50/p99 for that Service
host, from the destination side (istio_requests_total{reporter="destination"}: a subset
pod's own sidecar) or the source side (a caller's outbound|PORT|SUBSET|HOST clusters and
reporter="source" metrics). Without --side, the side the page has data for is read, and
a note on stderr says which. Without --host: the same per upstream cluster.
For a config dump: the weighted clusters of every route (and subset weights with --host).`

func (r *root) newStatsCommand() *cobra.Command {
	var o stats.Options
	cmd := &cobra.Command{
		Use:   "stats FILE|URL|-",
		Short: "Parse an Envoy/Istio stats page or config dump (no cluster needed)",
		Long:  statsLong,
		Example: `  kubectl sluice stats http://127.0.0.1:15090/stats/prometheus --host reviews.shop.svc.cluster.local
  kubectl exec deploy/gateway -c istio-proxy -- pilot-agent request GET stats/prometheus | kubectl sluice stats - --host reviews.shop.svc.cluster.local
  kubectl sluice stats config_dump.json --host reviews.shop.svc.cluster.local -o json`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf(ExitUsage, "stats reads one input (a file, - for stdin, or a URL), got %d\nSee '%s --help'.", len(args), c.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Validate(); err != nil {
				return usageErrorf(ExitUsage, "stats: %w", err)
			}
			data, err := stats.Read(c.Context(), args[0], r.streams.In)
			if err == nil {
				err = stats.Report(r.streams.Out, r.streams.ErrOut, data, o)
			}
			if err != nil {
				return withCode(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.Host, "host", "", "Service host (FQDN), e.g. reviews.default.svc.cluster.local")
	cmd.Flags().StringVar(&o.Side, "side", "", "destination (the pods' inbound view) or source (the callers' outbound clusters); default: the side the page has data for")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: json or yaml (default: a table)")
	return cmd
}
