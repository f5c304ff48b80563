package source

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/sluicedev/sluice/pkg/traffic"
)

// PrometheusIdentity is the endpoint identity of every count read from Prometheus: one
// series per subset, summed over its pods.
const PrometheusIdentity = "prometheus"

// Queries are the PromQL templates the Prometheus source runs. Each is a text/template
// over QueryArgs and must return an instant vector of cumulative counters (no rate():
// pkg/window takes the deltas and treats a decrease, e.g. a pod going away, as a reset).
type Queries struct {
	// Requests sums the request counters by SubsetLabel and CodeLabel.
	Requests string
	// LatencyBuckets sums the request duration histogram buckets by SubsetLabel and "le";
	// "" reads no latency.
	LatencyBuckets string
	// LatencySum sums the request duration histogram's _sum by SubsetLabel; "" leaves
	// Latency.Sum at 0 (quantiles need only the buckets).
	LatencySum string
	// SubsetLabel is the result label naming the subset (default "destination_version").
	SubsetLabel string
	// CodeLabel is the result label holding the HTTP response code (default "response_code").
	CodeLabel string
	// GRPCStatusLabel is the result label holding the gRPC status (default
	// "grpc_response_status"): a 2xx with a server-failure status counts as 5xx
	// (traffic.GRPCServerFailure). Series without it are judged by CodeLabel alone.
	GRPCStatusLabel string
	// LatencyUnit is how many milliseconds one unit of "le" is (default 1; 1000 for a
	// histogram in seconds).
	LatencyUnit float64
}

// QueryArgs are the values a Queries template can use. Host and Namespace are escaped for
// use inside a double-quoted PromQL string.
type QueryArgs struct {
	Host, Namespace string
}

// DefaultQueries read the inputs of the common Istio success-rate and p99 queries
// (istio_requests_total and istio_request_duration_milliseconds_bucket, reporter
// "destination", by destination_version) as cumulative counters.
var DefaultQueries = Queries{
	Requests:        `sum by (destination_version, response_code, grpc_response_status) (istio_requests_total{reporter="destination",destination_service="{{.Host}}"})`,
	LatencyBuckets:  `sum by (destination_version, le) (istio_request_duration_milliseconds_bucket{reporter="destination",destination_service="{{.Host}}"})`,
	LatencySum:      `sum by (destination_version) (istio_request_duration_milliseconds_sum{reporter="destination",destination_service="{{.Host}}"})`,
	SubsetLabel:     "destination_version",
	CodeLabel:       "response_code",
	GRPCStatusLabel: "grpc_response_status",
	LatencyUnit:     1,
}

// Prometheus reads per-subset counts from Prometheus over its HTTP API, for clusters
// where the pods cannot be reached.
type Prometheus struct {
	// API is the Prometheus HTTP API client (v1.NewAPI).
	API v1.API
	// Queries are the queries to run; zero fields take DefaultQueries' values.
	Queries Queries
	// Timeout bounds each query's evaluation on the server (0: the server's default).
	Timeout time.Duration
}

// Read runs the queries at the server's current time. Each subset gets one count under
// PrometheusIdentity. A subset without a series while others have some has had no
// request yet (Istio creates the series on the first request); when no series names any
// subset, every subset has Failed=1 and Note says so: missing data, never zero traffic.
func (p *Prometheus) Read(ctx context.Context, req Request) (Snapshot, error) {
	if p.API == nil {
		return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: no API client", req.Host)
	}
	q := p.Queries.withDefaults()
	args := QueryArgs{Host: promEscape(req.Host), Namespace: promEscape(req.Namespace)}
	var notes []string
	reqs, warn, err := p.query(ctx, "requests", q.Requests, args)
	if err != nil {
		return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: %w", req.Host, err)
	}
	notes = append(notes, warn...)
	counts, err := requestCounts(reqs, q)
	if err != nil {
		return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: %w", req.Host, err)
	}
	if q.LatencyBuckets != "" {
		buckets, warn, err := p.query(ctx, "latency buckets", q.LatencyBuckets, args)
		if err != nil {
			return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: %w", req.Host, err)
		}
		notes = append(notes, warn...)
		if err := addLatency(counts, buckets, q); err != nil {
			return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: %w", req.Host, err)
		}
	}
	if q.LatencySum != "" {
		sums, warn, err := p.query(ctx, "latency sum", q.LatencySum, args)
		if err != nil {
			return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: %w", req.Host, err)
		}
		notes = append(notes, warn...)
		if err := addLatencySum(counts, sums, q); err != nil {
			return Snapshot{}, fmt.Errorf("reading Prometheus stats of %s: %w", req.Host, err)
		}
	}
	out := newSubsets(req)
	if len(req.Subsets) == 0 {
		for s := range counts {
			out[s] = SubsetSnapshot{OK: map[string]traffic.Counts{}}
		}
	}
	matched := false
	for s := range out {
		_, ok := counts[s]
		matched = matched || ok
	}
	if !matched {
		notes = append(notes, noSeriesNote(req, q, slices.Sorted(maps.Keys(counts))))
		for s := range out {
			out[s] = SubsetSnapshot{OK: map[string]traffic.Counts{}, Failed: 1}
		}
		return Snapshot{Subsets: out, Note: strings.Join(notes, "; ")}, nil
	}
	for s, snap := range out {
		snap.OK[PrometheusIdentity] = counts[s]
	}
	return Snapshot{Subsets: out, Note: strings.Join(notes, "; ")}, nil
}

// query renders and runs one instant query; it returns the vector and any warnings.
func (p *Prometheus) query(ctx context.Context, what, tmpl string, args QueryArgs) (model.Vector, []string, error) {
	promql, err := render(tmpl, args)
	if err != nil {
		return nil, nil, fmt.Errorf("rendering the %s query: %w", what, err)
	}
	val, warnings, _, err := p.API.Query(ctx, promql, timeZero, p.options()...)
	if err != nil {
		return nil, nil, fmt.Errorf("querying %s (%s): %w", what, promql, err)
	}
	vec, ok := val.(model.Vector)
	if !ok {
		return nil, nil, fmt.Errorf("querying %s (%s): got a %s, want an instant vector", what, promql, val.Type())
	}
	notes := make([]string, 0, len(warnings))
	for _, w := range warnings {
		notes = append(notes, fmt.Sprintf("Prometheus warns about the %s query: %s", what, w))
	}
	return vec, notes, nil
}

// timeZero asks Prometheus to evaluate at its current time.
var timeZero time.Time

// options are the query options: the evaluation timeout when set.
func (p *Prometheus) options() []v1.Option {
	if p.Timeout > 0 {
		return []v1.Option{v1.WithTimeout(p.Timeout)}
	}
	return nil
}

func (q Queries) withDefaults() Queries {
	if q.Requests == "" {
		q.Requests = DefaultQueries.Requests
		if q.LatencyBuckets == "" && q.LatencySum == "" {
			q.LatencyBuckets, q.LatencySum = DefaultQueries.LatencyBuckets, DefaultQueries.LatencySum
		}
	}
	if q.SubsetLabel == "" {
		q.SubsetLabel = DefaultQueries.SubsetLabel
	}
	if q.CodeLabel == "" {
		q.CodeLabel = DefaultQueries.CodeLabel
	}
	if q.GRPCStatusLabel == "" {
		q.GRPCStatusLabel = DefaultQueries.GRPCStatusLabel
	}
	if q.LatencyUnit <= 0 {
		q.LatencyUnit = DefaultQueries.LatencyUnit
	}
	return q
}

// Validate reports whether q's templates parse (zero fields take the defaults).
func (q Queries) Validate() error {
	q = q.withDefaults()
	for _, t := range []string{q.Requests, q.LatencyBuckets, q.LatencySum} {
		if _, err := render(t, QueryArgs{Host: "h", Namespace: "n"}); err != nil {
			return err
		}
	}
	return nil
}

func render(tmpl string, args QueryArgs) (string, error) {
	t, err := template.New("promql").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("parsing PromQL template %q: %w", tmpl, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, args); err != nil {
		return "", fmt.Errorf("executing PromQL template %q: %w", tmpl, err)
	}
	return b.String(), nil
}

// promEscape escapes s for a double-quoted PromQL string (Go string escapes).
func promEscape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func noSeriesNote(req Request, q Queries, got []string) string {
	want := strings.Join(slices.Sorted(maps.Keys(req.Subsets)), ", ")
	if len(got) == 0 {
		return fmt.Sprintf("Prometheus has no request series for %s (is it scraping the sidecars' istio_requests_total with reporter=\"destination\"?): the counts are missing, not zero", req.Host)
	}
	return fmt.Sprintf("Prometheus has request series for %s only with %s %s, none of them a subset (%s): the counts are missing, not zero",
		req.Host, q.SubsetLabel, strings.Join(got, ", "), want)
}
