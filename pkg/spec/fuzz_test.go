package spec

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// fixtureNames returns resource and subset names from the Istio sample fixtures.
func fixtureNames(f *testing.F) (names, subsets []string) {
	files, err := filepath.Glob("../../testdata/istio/*.yaml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no Istio fixtures found: %v", err)
	}
	nameRE := regexp.MustCompile(`(?m)^\s*(?:- )?(name|subset):\s*([^\s#]+)`)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatalf("reading fixture: %v", err)
		}
		for _, m := range nameRE.FindAllStringSubmatch(string(b), -1) {
			if m[1] == "subset" {
				subsets = append(subsets, m[2])
			} else {
				names = append(names, m[2])
			}
		}
	}
	return names, subsets
}

// decodeAnnotations reads "key=value" lines; keys without a '/' get the sluice.dev/ prefix.
func decodeAnnotations(raw string) map[string]string {
	ann := map[string]string{}
	for _, line := range strings.Split(raw, "\n") {
		k, v, _ := strings.Cut(line, "=")
		if !strings.Contains(k, "/") {
			k = annPrefix + k
		}
		ann[k] = v
	}
	return ann
}

func FuzzParse(f *testing.F) {
	names, subsets := fixtureNames(f)
	for _, s := range subsets {
		f.Add("enabled=true\ncanary="+s+"\nretry="+s+"@1", []byte{}, int64(0), 0.0)
	}
	f.Add("virtualservice="+strings.Join(names, ","), []byte{5, 25, 50, 100}, int64(time.Minute), 0.01)
	f.Add("stats-from=istio=ingressgateway,namespace=istio-system\nsteps=5:1m,25,100", []byte{}, int64(0), 0.0)
	f.Add("steps=5,25,50\nmax-error-rate=1%\nmin-requests=5", []byte{50, 25}, int64(-1), 1.5)
	f.Add("step-duration=2m\nmax-latency-p99=300ms\npaused=true\npromote=v2\nabort=v3", []byte{100}, int64(1), -1.0)
	f.Add("canery=v2\napp.kubernetes.io/name=reviews\npolicy=team.fast", []byte{0, 200}, int64(0), 0.5)
	f.Add("max-latency=p95=300ms\nmax-latency-p99=1s", []byte{}, int64(0), 0.0)
	f.Add("max-latency=p99.9=1.5s\nmax-latency-p95=300ms", []byte{}, int64(0), 0.0)
	f.Add("max-latency=p50=20ms", []byte{100}, int64(0), 0.01)
	f.Add("enabled=true", []byte{120}, int64(time.Second), 0.05)
	f.Add("max-latency=p999=1s", []byte{}, int64(0), 0.0)

	f.Fuzz(func(t *testing.T, raw string, weights []byte, dwell int64, rate float64) {
		ann := decodeAnnotations(raw)
		var policy *v1alpha1.ShiftPolicySpec
		if len(weights) > 0 {
			policy = &v1alpha1.ShiftPolicySpec{Guard: &v1alpha1.Guard{MaxErrorRate: &rate,
				MaxLatency: &v1alpha1.LatencyLimit{Quantile: 1 - rate, Limit: metav1.Duration{Duration: time.Duration(dwell)}}}}
			for _, w := range weights {
				d := metav1.Duration{Duration: time.Duration(dwell)}
				policy.Steps = append(policy.Steps, v1alpha1.Step{Weight: int32(w) - 20, Dwell: &d})
			}
		}
		s, err := Parse(ann, policy)
		if err != nil {
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) == 0 {
				t.Fatalf("Parse error %v (%T) is not an *InvalidError with problems", err, err)
			}
			msg := err.Error()
			for _, p := range inv.Problems {
				if p.Field == "" || p.Expected == "" || !strings.Contains(msg, p.Field+": ") {
					t.Fatalf("problem %#v is incomplete or missing from %q", p, msg)
				}
			}
			if got := strings.Count(msg, "\n") + 1; got != len(inv.Problems) {
				t.Fatalf("message has %d lines for %d problems", got, len(inv.Problems))
			}
			return
		}
		if err := s.Steps.Validate(); err != nil {
			t.Fatalf("Parse accepted steps that fail Validate: %v", err)
		}
		if s.Enabled != Enabled(ann) || (s.PolicyName != PolicyName(ann)) {
			t.Fatalf("Spec enabled/policy %v/%q disagree with Enabled/PolicyName %v/%q", s.Enabled, s.PolicyName, Enabled(ann), PolicyName(ann))
		}
		if g := s.Guard; g.MaxErrorRate < 0 || g.MaxErrorRate > 1 || g.MinRequests < 1 || g.MaxLatencyP99 < 0 || s.Interval < minInterval {
			t.Fatalf("Parse accepted out-of-range values: %+v interval %v", g, s.Interval)
		}
		if g := s.Guard; g.MaxLatency < 0 || (g.MaxLatency > 0 && g.Quantile() != g.LatencyQuantile) {
			t.Fatalf("Parse accepted a latency limit %v at quantile %v outside %v..%v", g.MaxLatency, g.LatencyQuantile, analysis.MinLatencyQuantile, analysis.MaxLatencyQuantile)
		}
		if v, ok := ann[AnnMaxLatency]; ok {
			// The accepted value reads back from the quantile's own name.
			q, d, exp := parseQuantileLimit(analysis.QuantileName(s.Guard.LatencyQuantile) + "=" + s.Guard.MaxLatency.String())
			if exp != "" || q != s.Guard.LatencyQuantile || d != s.Guard.MaxLatency {
				t.Fatalf("%s=%q parsed to %v at %v, which does not read back (%v, %v, %q)", AnnMaxLatency, v, s.Guard.MaxLatency, s.Guard.LatencyQuantile, q, d, exp)
			}
		}
		if s.StatsFrom != nil && s.StatsFrom.Selector.Empty() {
			t.Fatalf("Parse accepted an empty stats-from selector %q", s.StatsFrom.Raw)
		}
		if s.Retry != "" && !strings.HasPrefix(s.RetryToken, s.Retry) {
			t.Fatalf("retry subset %q is not the start of token %q", s.Retry, s.RetryToken)
		}
	})
}
