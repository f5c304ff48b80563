// Package stats reports an Envoy/Istio stats page or config dump offline (the plugin's
// stats command): per-subset or per-cluster requests, error rates and latency, or the
// weighted routes of a config dump.
package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/sluicedev/sluice/pkg/envoy"
	"github.com/sluicedev/sluice/pkg/traffic"
)

// Options select what a report shows.
type Options struct {
	// Host is the Service host (FQDN); empty reports per upstream cluster.
	Host string
	// Side is "destination", "source", or "" to read the side the page has data for.
	Side string
	// Output is "" (a table), "json" or "yaml".
	Output string
}

// Validate checks the options' values.
func (o Options) Validate() error {
	switch o.Side {
	case "", "destination", "source":
	default:
		return fmt.Errorf("--side must be destination or source, not %q", o.Side)
	}
	switch o.Output {
	case "", "json", "yaml":
	case "table":
		return errors.New(`-o table is the default now: leave -o out (or use -o json|yaml)`)
	default:
		return fmt.Errorf("-o must be json or yaml (default: a table), not %q", o.Output)
	}
	return nil
}

// Row is one line of the stats report.
type Row struct {
	Name      string   `json:"name"`
	Requests  uint64   `json:"requests"`
	Rq2xx     uint64   `json:"rq2xx"`
	Rq4xx     uint64   `json:"rq4xx"`
	Rq5xx     uint64   `json:"rq5xx"`
	ErrorRate float64  `json:"errorRate"`
	P50       *float64 `json:"p50Ms,omitempty"`
	P99       *float64 `json:"p99Ms,omitempty"`
}

// Read reads a file, "-" for stdin, or an http(s) URL.
func Read(ctx context.Context, src string, stdin io.Reader) ([]byte, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		s := envoy.NewScraper(envoy.ScrapeOptions{Timeout: 10 * time.Second, MaxBytes: 256 << 20})
		data, err := s.Fetch(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("fetching stats: %w", err)
		}
		return data, nil
	}
	if src == "-" {
		data, err := io.ReadAll(stdin)
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

// Report writes the report of data (a stats page or a config dump) to out; notes (which
// side was read) go to note.
func Report(out, note io.Writer, data []byte, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if envoy.Detect(data) == envoy.FormatConfigDump {
		return printConfigDump(out, data, o.Host, o.Output)
	}
	return printStats(out, note, data, o)
}

// side returns the query side named by name ("" is the destination).
func side(name string) envoy.Side {
	if name == "source" {
		return envoy.Source
	}
	return envoy.Destination
}

// encode writes v as indented JSON, or as YAML.
func encode(w io.Writer, v any, output string) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if output == "yaml" {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encoding the report: %w", err)
		}
	} else {
		data = append(data, '\n')
	}
	_, err = w.Write(data)
	return err
}

func printStats(w, note io.Writer, data []byte, o Options) error {
	var (
		rows  []Row
		label = "SUBSET"
		q     = envoy.Query{Host: o.Host, Side: side(o.Side)}
	)
	if o.Host != "" {
		var err error
		if rows, err = subsetRows(data, q); err != nil {
			return err
		}
		if o.Side == "" {
			// No side asked for: read the one the page has data for, and say which.
			if len(rows) == 0 {
				q.Side = envoy.Source
				if rows, err = subsetRows(data, q); err != nil {
					return err
				}
			}
			if len(rows) > 0 {
				fmt.Fprintf(note, "reading the %s side (%s) of this %s page; --side picks one\n", q.Side, sideText(q.Side), envoy.Detect(data))
			}
		}
	} else {
		c, err := envoy.ParseClusters(data)
		if err != nil {
			return err
		}
		for name, counts := range c {
			rows = append(rows, toRow(name, counts))
		}
		label = "CLUSTER"
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	if o.Output != "" {
		if rows == nil {
			rows = []Row{}
		}
		return encode(w, rows, o.Output)
	}
	if len(rows) == 0 {
		what := "upstream cluster request stats"
		switch {
		case o.Host != "" && o.Side == "":
			what = fmt.Sprintf("destination-side or source-side stats for %s", o.Host)
		case o.Host != "":
			what = fmt.Sprintf("%s-side stats for %s", q.Side, o.Host)
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

// subsetRows parses the per-subset counts of q.Host on q.Side.
func subsetRows(data []byte, q envoy.Query) ([]Row, error) {
	r, err := envoy.Parse(data, q)
	if err != nil {
		return nil, err
	}
	// Subsets named after versions, as kubectl-sluice cannot see the pods' labels here.
	var rows []Row
	for name, c := range r.MoveGRPCFailures(nil).Subsets {
		rows = append(rows, toRow(name, c))
	}
	return rows, nil
}

func sideText(s envoy.Side) string {
	if s == envoy.Source {
		return "the callers' outbound view"
	}
	return "the pods' own inbound view"
}

func toRow(name string, c traffic.Counts) Row {
	r := Row{Name: name, Requests: c.Requests, Rq2xx: c.Rq2xx, Rq4xx: c.Rq4xx, Rq5xx: c.Rq5xx}
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
	if output != "" {
		out := struct {
			Routes  []routeRow        `json:"routes"`
			Subsets map[string]uint32 `json:"subsetWeights,omitempty"`
		}{rows, subsets}
		return encode(w, out, output)
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
