package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

const statsUsage = `usage: kubectl sluice stats <file|url> [--host H] [--side destination|source] [-o table|json]

Reads an Envoy/Istio stats page (/stats/prometheus, /stats, /stats?format=json) or a
/config_dump, auto-detecting the format. With --host: per-subset requests, 2xx/4xx/5xx,
error rate and p50/p99 for that Service host. Without --host: the same per upstream cluster.
For a config dump: the weighted clusters of every route (and subset weights with --host).
`

// statsRow is one line of the stats report.
type statsRow struct {
	Name      string   `json:"name"`
	Requests  uint64   `json:"requests"`
	Rq2xx     uint64   `json:"rq2xx"`
	Rq4xx     uint64   `json:"rq4xx"`
	Rq5xx     uint64   `json:"rq5xx"`
	ErrorRate float64  `json:"errorRate"`
	P50       *float64 `json:"p50Ms,omitempty"`
	P99       *float64 `json:"p99Ms,omitempty"`
}

// runStats implements `kubectl sluice stats`; it returns the process exit code.
func runStats(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statsUsage) }
	host := fs.String("host", "", "Service host (FQDN), e.g. reviews.default.svc.cluster.local")
	side := fs.String("side", "destination", "destination (pod's inbound view) or source (caller's outbound clusters)")
	output := fs.String("o", "table", "output format: table or json")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		fs.Usage()
		return 2
	}
	q := envoy.Query{Host: *host}
	switch *side {
	case "destination":
		q.Side = envoy.Destination
	case "source":
		q.Side = envoy.Source
	default:
		fmt.Fprintf(stderr, "stats: --side must be destination or source, not %q\n", *side)
		return 2
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "stats: -o must be table or json, not %q\n", *output)
		return 2
	}
	data, err := readStatsInput(ctx, pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "stats: %v\n", err)
		return 1
	}
	if envoy.Detect(data) == envoy.FormatConfigDump {
		err = printConfigDump(stdout, data, *host, *output)
	} else {
		err = printStats(stdout, data, q, *output)
	}
	if err != nil {
		fmt.Fprintf(stderr, "stats: %v\n", err)
		return 1
	}
	return 0
}

// readStatsInput reads a file, "-" for stdin, or an http(s) URL.
func readStatsInput(ctx context.Context, src string) ([]byte, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		s := envoy.NewScraper(envoy.ScrapeOptions{Timeout: 10 * time.Second, MaxBytes: 256 << 20})
		return s.Fetch(ctx, src)
	}
	if src == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("reading stats: %w", err)
	}
	return data, nil
}

func printStats(w io.Writer, data []byte, q envoy.Query, output string) error {
	var (
		counts map[string]traffic.Counts
		label  = "SUBSET"
	)
	if q.Host != "" {
		r, err := envoy.Parse(data, q)
		if err != nil {
			return err
		}
		// Subsets named after versions, as kubectl-sluice cannot see the pods' labels here.
		counts = r.MoveGRPCFailures(nil).Subsets
	} else {
		c, err := envoy.ParseClusters(data)
		if err != nil {
			return err
		}
		counts, label = c, "CLUSTER"
	}
	rows := make([]statsRow, 0, len(counts))
	for name, c := range counts {
		rows = append(rows, toRow(name, c))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		what := "upstream cluster request stats"
		if q.Host != "" {
			what = fmt.Sprintf("%s-side stats for %s", q.Side, q.Host)
		}
		_, err := fmt.Fprintf(w, "no %s in this %s page\n", what, envoy.Detect(data))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tREQUESTS\t2XX\t4XX\t5XX\tERROR%%\tP50(ms)\tP99(ms)\n", label)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\t%s\t%s\n", r.Name, r.Requests, r.Rq2xx, r.Rq4xx, r.Rq5xx,
			100*r.ErrorRate, fmtMs(r.P50), fmtMs(r.P99))
	}
	return tw.Flush()
}

func toRow(name string, c traffic.Counts) statsRow {
	r := statsRow{Name: name, Requests: c.Requests, Rq2xx: c.Rq2xx, Rq4xx: c.Rq4xx, Rq5xx: c.Rq5xx}
	if c.Requests > 0 {
		r.ErrorRate = float64(c.Errors()) / float64(c.Requests)
	}
	p50, p99 := c.Latency.Quantile(0.5), c.Latency.Quantile(0.99)
	if math.IsNaN(p50) && c.P50 > 0 {
		p50 = c.P50
	}
	if math.IsNaN(p99) && c.P99 > 0 {
		p99 = c.P99
	}
	if !math.IsNaN(p50) {
		r.P50 = &p50
	}
	if !math.IsNaN(p99) {
		r.P99 = &p99
	}
	return r
}

func fmtMs(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *v)
}

// routeRow is one weighted cluster of one route of a config dump.
type routeRow struct {
	RouteConfig string `json:"routeConfig"`
	VirtualHost string `json:"virtualHost"`
	Route       string `json:"route"`
	Cluster     string `json:"cluster"`
	Weight      uint32 `json:"weight"`
}

func printConfigDump(w io.Writer, data []byte, host, output string) error {
	routes, err := envoy.ParseConfigDump(data)
	if err != nil {
		return err
	}
	var rows []routeRow
	for _, r := range routes { // the dump's route order; clusters sorted within a route
		names := make([]string, 0, len(r.Clusters))
		for c := range r.Clusters {
			names = append(names, c)
		}
		sort.Strings(names)
		for _, c := range names {
			rows = append(rows, routeRow{r.RouteConfig, r.VirtualHost, r.Route, c, r.Clusters[c]})
		}
	}
	var subsets map[string]uint32
	if host != "" {
		subsets = envoy.SubsetWeights(routes, host)
	}
	if output == "json" {
		out := struct {
			Routes  []routeRow        `json:"routes"`
			Subsets map[string]uint32 `json:"subsetWeights,omitempty"`
		}{rows, subsets}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE CONFIG\tVIRTUAL HOST\tROUTE\tCLUSTER\tWEIGHT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.RouteConfig, r.VirtualHost, r.Route, r.Cluster, r.Weight)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if host == "" {
		return nil
	}
	if subsets == nil {
		return errors.New("no route sends to a subset of " + host)
	}
	names := make([]string, 0, len(subsets))
	for s := range subsets {
		names = append(names, s)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\nsubset weights for %s:", host)
	for _, s := range names {
		fmt.Fprintf(w, " %s=%d", s, subsets[s])
	}
	_, err = fmt.Fprintln(w)
	return err
}
