package spec

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedev/sluice/pkg/analysis"
	"github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/schedule"
)

// baseSpec is what Parse yields for an opted-out Service without any policy.
func baseSpec() Spec {
	return Spec{
		PolicyName:     DefaultPolicyName,
		Steps:          schedule.Default(30*time.Second, 20),
		Interval:       500 * time.Millisecond,
		Guard:          analysis.DefaultThresholds(),
		HistoryLimit:   10,
		StatsSource:    v1alpha1.StatsSourceEnvoy,
		OnAlert:        v1alpha1.AlertRollback,
		Readiness:      Readiness{MinReadyPods: 1, Timeout: 5 * time.Minute, OnTimeout: analysis.FailPause},
		ResourceSource: v1alpha1.ResourceSourceMetricsAPI,
	}
}

// steps builds a schedule from weight/dwell/minRequests triples.
func steps(minRequests int64, wd ...any) schedule.Schedule {
	var s schedule.Schedule
	for i := 0; i < len(wd); i += 2 {
		s = append(s, schedule.Step{Weight: int32(wd[i].(int)), Dwell: wd[i+1].(time.Duration), MinRequests: minRequests})
	}
	return s
}

func TestParseValid(t *testing.T) {
	const m, s30 = time.Minute, 30 * time.Second
	tests := map[string]struct {
		ann       map[string]string
		want      func(*Spec)
		selector  string // StatsFrom.Selector.String(), when StatsFrom is expected
		namespace string
	}{
		"no annotations": {ann: nil, want: func(*Spec) {}},
		"enabled true":   {ann: map[string]string{AnnEnabled: "true"}, want: func(s *Spec) { s.Enabled = true }},
		"enabled false":  {ann: map[string]string{AnnEnabled: "false"}, want: func(*Spec) {}},
		"paused true":    {ann: map[string]string{AnnPaused: "true"}, want: func(s *Spec) { s.Paused = true }},
		"paused false":   {ann: map[string]string{AnnPaused: "false"}, want: func(*Spec) {}},
		"foreign keys are ignored": {
			ann:  map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{", "sluice.io/canary": "X", "foo.sluice.dev/x": "?", "sluice.dev": "y"},
			want: func(*Spec) {},
		},
		"steps with approval gates": {
			ann: map[string]string{AnnSteps: "5,50:2m:approve, 80 :approve,100"},
			want: func(s *Spec) {
				s.Steps = schedule.Schedule{{Weight: 5, Dwell: 30 * time.Second, MinRequests: 20}, {Weight: 50, Dwell: 2 * time.Minute, MinRequests: 20, Approval: true},
					{Weight: 80, Dwell: 30 * time.Second, MinRequests: 20, Approval: true}, {Weight: 100, Dwell: 30 * time.Second, MinRequests: 20}}
			},
		},
		"approve every gate":   {ann: map[string]string{AnnApprove: "v2"}, want: func(s *Spec) { s.Approve = Approval{Canary: "v2", UpTo: 100} }},
		"approve up to a step": {ann: map[string]string{AnnApprove: "v2@50"}, want: func(s *Spec) { s.Approve = Approval{Canary: "v2", UpTo: 50} }},
		"release context": {
			ann: map[string]string{AnnReleaseCanary: "v2", AnnReleaseCommit: "3f9c1e2a", AnnReleasePipeline: "build #4711 (main)",
				AnnReleaseURL: "https://ci.example.com/builds/4711?tab=log", AnnReleaseBy: "Zoë Chen <zoe@example.com>"},
			want: func(s *Spec) {
				s.Release = Release{Canary: "v2", Commit: "3f9c1e2a", Pipeline: "build #4711 (main)", URL: "https://ci.example.com/builds/4711?tab=log", By: "Zoë Chen <zoe@example.com>"}
			},
		},
		"subsets and commands": {
			ann: map[string]string{AnnCanary: "v2", AnnStable: "v1", AnnPromote: "v2", AnnAbort: "v3-mysql"},
			want: func(s *Spec) {
				s.Canary, s.Stable, s.Promote, s.Abort = "v2", "v1", "v2", "v3-mysql"
			},
		},
		"subset of 63 characters": {
			ann:  map[string]string{AnnCanary: strings.Repeat("a", 63)},
			want: func(s *Spec) { s.Canary = strings.Repeat("a", 63) },
		},
		"retry without token": {
			ann:  map[string]string{AnnRetry: "v2"},
			want: func(s *Spec) { s.Retry, s.RetryToken = "v2", "v2" },
		},
		"retry with token": {
			ann:  map[string]string{AnnRetry: "v2@second try, 10:00"},
			want: func(s *Spec) { s.Retry, s.RetryToken = "v2", "v2@second try, 10:00" },
		},
		"retry token may contain @": {
			ann:  map[string]string{AnnRetry: "v2@a@b"},
			want: func(s *Spec) { s.Retry, s.RetryToken = "v2", "v2@a@b" },
		},
		"virtualservices trimmed": {
			ann:  map[string]string{AnnVirtualService: " reviews , bookinfo.gateway-vs,ratings"},
			want: func(s *Spec) { s.VirtualServices = []string{"reviews", "bookinfo.gateway-vs", "ratings"} },
		},
		"policy name": {
			ann:  map[string]string{AnnPolicy: "team-a.fast"},
			want: func(s *Spec) { s.PolicyName = "team-a.fast" },
		},
		"steps with and without dwell": {
			ann:  map[string]string{AnnSteps: "5:1m,25,100"},
			want: func(s *Spec) { s.Steps = steps(20, 5, m, 25, s30, 100, s30) },
		},
		"steps with spaces and zero dwell": {
			ann:  map[string]string{AnnSteps: " 1 , 50 : 2m30s, 100:0s "},
			want: func(s *Spec) { s.Steps = steps(20, 1, s30, 50, 150*time.Second, 100, 0*time.Second) },
		},
		"single step 100": {
			ann:  map[string]string{AnnSteps: "100"},
			want: func(s *Spec) { s.Steps = steps(20, 100, s30) },
		},
		"step-duration fills steps without dwell": {
			ann:  map[string]string{AnnSteps: "10:5s,60,100", AnnStepDuration: "2m"},
			want: func(s *Spec) { s.Steps = steps(20, 10, 5*time.Second, 60, 2*m, 100, 2*m) },
		},
		"step-duration alone applies to the policy's steps": {
			ann:  map[string]string{AnnStepDuration: "90s"},
			want: func(s *Spec) { s.Steps = schedule.Default(90*time.Second, 20) },
		},
		"max-latency p95": {
			ann:  map[string]string{AnnMaxLatency: "p95=300ms"},
			want: func(s *Spec) { s.Guard.MaxLatency, s.Guard.LatencyQuantile = 300*time.Millisecond, 0.95 },
		},
		"max-latency p50": {
			ann:  map[string]string{AnnMaxLatency: "p50=20ms"},
			want: func(s *Spec) { s.Guard.MaxLatency, s.Guard.LatencyQuantile = 20*time.Millisecond, 0.5 },
		},
		"max-latency p99.9 is exactly 0.999": {
			ann:  map[string]string{AnnMaxLatency: "p99.9=1.5s"},
			want: func(s *Spec) { s.Guard.MaxLatency, s.Guard.LatencyQuantile = 1500*time.Millisecond, 0.999 },
		},
		"max-latency p97.5 beside max-latency-p99": {
			ann: map[string]string{AnnMaxLatency: "p97.5=250ms", AnnMaxLatencyP99: "1s"},
			want: func(s *Spec) {
				s.Guard.MaxLatency, s.Guard.LatencyQuantile, s.Guard.MaxLatencyP99 = 250*time.Millisecond, 0.975, time.Second
			},
		},
		"min-requests sets guard and steps": {
			ann: map[string]string{AnnMinRequests: "150", AnnSteps: "50,100"},
			want: func(s *Spec) {
				s.Guard.MinRequests = 150
				s.Steps = steps(150, 50, s30, 100, s30)
			},
		},
		"max-error-rate decimal":         {ann: map[string]string{AnnMaxErrorRate: "0.05"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 0.05 }},
		"max-error-rate leading dot":     {ann: map[string]string{AnnMaxErrorRate: ".5"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 0.5 }},
		"max-error-rate zero":            {ann: map[string]string{AnnMaxErrorRate: "0"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 0 }},
		"max-error-rate one":             {ann: map[string]string{AnnMaxErrorRate: "1"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 1 }},
		"max-error-rate percent":         {ann: map[string]string{AnnMaxErrorRate: "2%"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 0.02 }},
		"max-error-rate half percent":    {ann: map[string]string{AnnMaxErrorRate: "0.5%"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 0.005 }},
		"max-error-rate hundred percent": {ann: map[string]string{AnnMaxErrorRate: "100%"}, want: func(s *Spec) { s.Guard.MaxErrorRate = 1 }},
		"max-latency-p99": {
			ann:  map[string]string{AnnMaxLatencyP99: "250ms"},
			want: func(s *Spec) { s.Guard.MaxLatencyP99 = 250 * time.Millisecond },
		},
		"stats-from selector": {
			ann: map[string]string{AnnStatsFrom: "app=gw, tier in (edge,public)"}, want: func(*Spec) {},
			selector: "app=gw,tier in (edge,public)",
		},
		"stats-from with namespace": {
			ann: map[string]string{AnnStatsFrom: "istio=ingressgateway,namespace=istio-system"}, want: func(*Spec) {},
			selector: "istio=ingressgateway", namespace: "istio-system",
		},
		"stats-from with spaced namespace after a set": {
			ann: map[string]string{AnnStatsFrom: "app in (a,b), namespace == gw"}, want: func(*Spec) {},
			selector: "app in (a,b)", namespace: "gw",
		},
		"stats-from namespace!= stays a label term": {
			ann: map[string]string{AnnStatsFrom: "app=gw,namespace!=x"}, want: func(*Spec) {},
			selector: "app=gw,namespace!=x",
		},
		"stats-from namespace not last stays a label term": {
			ann: map[string]string{AnnStatsFrom: "namespace=x,app=gw"}, want: func(*Spec) {},
			selector: "app=gw,namespace=x",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Parse(tc.ann, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := baseSpec()
			tc.want(&want)
			if tc.selector != "" {
				if got.StatsFrom == nil {
					t.Fatalf("StatsFrom is nil, want selector %q", tc.selector)
				}
				if s := got.StatsFrom.Selector.String(); s != tc.selector {
					t.Errorf("StatsFrom.Selector = %q, want %q", s, tc.selector)
				}
				if got.StatsFrom.Namespace != tc.namespace || got.StatsFrom.Raw != tc.ann[AnnStatsFrom] {
					t.Errorf("StatsFrom = %+v, want namespace %q raw %q", got.StatsFrom, tc.namespace, tc.ann[AnnStatsFrom])
				}
				got.StatsFrom = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
			}
			if err := got.Steps.Validate(); err != nil {
				t.Errorf("Steps.Validate: %v", err)
			}
		})
	}
}

func TestParseInvalidAnnotation(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := map[string]struct {
		key, value string
		expected   string
	}{
		"enabled capitalised":          {AnnEnabled, "True", expectBool},
		"enabled yes":                  {AnnEnabled, "yes", expectBool},
		"enabled empty":                {AnnEnabled, "", expectBool},
		"paused 1":                     {AnnPaused, "1", expectBool},
		"canary uppercase":             {AnnCanary, "V2", expectSubset},
		"canary with dot":              {AnnCanary, "v2.1", expectSubset},
		"canary empty":                 {AnnCanary, "", expectSubset},
		"canary too long":              {AnnCanary, long, expectSubset},
		"stable leading dash":          {AnnStable, "-v1", expectSubset},
		"promote underscore":           {AnnPromote, "v_2", expectSubset},
		"abort leading space":          {AnnAbort, " v2", expectSubset},
		"retry empty":                  {AnnRetry, "", expectRetry + ` (subset "" is not a DNS-1123 label)`},
		"retry only token":             {AnnRetry, "@tok", expectRetry + ` (subset "" is not a DNS-1123 label)`},
		"retry empty token":            {AnnRetry, "v2@", expectRetry + ` (token "" is empty or not printable)`},
		"retry control token":          {AnnRetry, "v2@a\tb", expectRetry + ` (token "a\tb" is empty or not printable)`},
		"retry invalid utf8":           {AnnRetry, "v2@\xff", expectRetry + ` (token "\xff" is empty or not printable)`},
		"retry both bad":               {AnnRetry, "V2@", expectRetry + ` (subset "V2" is not a DNS-1123 label; token "" is empty or not printable)`},
		"vs empty":                     {AnnVirtualService, "", expectVSList + ` (item 1 is empty)`},
		"vs empty item":                {AnnVirtualService, "a,,b", expectVSList + ` (item 2 is empty)`},
		"vs trailing comma":            {AnnVirtualService, "a,", expectVSList + ` (item 2 is empty)`},
		"vs duplicate":                 {AnnVirtualService, " a , b, a", expectVSList + ` ("a" is listed twice)`},
		"vs bad names":                 {AnnVirtualService, "Reviews,r_2", expectVSList + ` ("Reviews" is not a DNS-1123 subdomain; "r_2" is not a DNS-1123 subdomain)`},
		"policy uppercase":             {AnnPolicy, "Default", expectPolicy},
		"policy empty":                 {AnnPolicy, "", expectPolicy},
		"policy underscore":            {AnnPolicy, "a_b", expectPolicy},
		"steps empty":                  {AnnSteps, "", expectSteps + ` (step 1 has no weight)`},
		"steps not ending at 100":      {AnnSteps, "5,25,50", expectSteps + ` (the last weight is 50, not 100)`},
		"steps decreasing":             {AnnSteps, "50,25,100", expectSteps + ` (step 2: weight 25 is not above 50)`},
		"steps repeated":               {AnnSteps, "5,5,100", expectSteps + ` (step 2: weight 5 is not above 5)`},
		"steps zero":                   {AnnSteps, "0,100", expectSteps + ` (step 1: weight 0 is outside 1..100)`},
		"steps above 100":              {AnnSteps, "5,101", expectSteps + ` (step 2: weight 101 is outside 1..100)`},
		"steps words":                  {AnnSteps, "abc,100", expectSteps + ` (step 1: weight "abc" is not an integer in 1..100)`},
		"steps plus sign":              {AnnSteps, "+5,100", expectSteps + ` (step 1: weight "+5" is not an integer in 1..100)`},
		"steps fraction":               {AnnSteps, "5.5,100", expectSteps + ` (step 1: weight "5.5" is not an integer in 1..100)`},
		"steps empty item":             {AnnSteps, "5,,100", expectSteps + ` (step 2 has no weight)`},
		"steps bad dwell":              {AnnSteps, "5:xyz,100", expectSteps + ` (step 1: dwell "xyz" is not a Go duration >= 0 like 1m)`},
		"steps negative dwell":         {AnnSteps, "5:-1m,100", expectSteps + ` (step 1: dwell "-1m" is not a Go duration >= 0 like 1m)`},
		"steps empty dwell":            {AnnSteps, "5:,100", expectSteps + ` (step 1: dwell "" is not a Go duration >= 0 like 1m)`},
		"steps several flaws":          {AnnSteps, "x,0,100:y", expectSteps + ` (step 1: weight "x" is not an integer in 1..100; step 2: weight 0 is outside 1..100; step 3: dwell "y" is not a Go duration >= 0 like 1m)`},
		"step-duration zero":           {AnnStepDuration, "0s", expectDuration},
		"step-duration negative":       {AnnStepDuration, "-1s", expectDuration},
		"step-duration no unit":        {AnnStepDuration, "30", expectDuration},
		"rate above 1":                 {AnnMaxErrorRate, "1.5", expectRate},
		"rate negative":                {AnnMaxErrorRate, "-0.1", expectRate},
		"rate NaN":                     {AnnMaxErrorRate, "NaN", expectRate},
		"rate Inf":                     {AnnMaxErrorRate, "Inf", expectRate},
		"rate percent above 100":       {AnnMaxErrorRate, "101%", expectRate},
		"rate exponent":                {AnnMaxErrorRate, "1e-2", expectRate},
		"rate hex float":               {AnnMaxErrorRate, "0x1p-2", expectRate},
		"rate bare percent":            {AnnMaxErrorRate, "%", expectRate},
		"rate spaced":                  {AnnMaxErrorRate, " 0.1", expectRate},
		"rate huge":                    {AnnMaxErrorRate, "1" + strings.Repeat("0", 400), expectRate},
		"p99 zero":                     {AnnMaxLatencyP99, "0", expectDuration},
		"p99 negative":                 {AnnMaxLatencyP99, "-5ms", expectDuration},
		"p99 words":                    {AnnMaxLatencyP99, "fast", expectDuration},
		"max-latency bare duration":    {AnnMaxLatency, "300ms", expectQuantile + ` (no "=" between the percentile and the limit)`},
		"max-latency fraction":         {AnnMaxLatency, "0.95=300ms", expectQuantile + ` (percentile "0.95" is not p<number> like p95)`},
		"max-latency uppercase P":      {AnnMaxLatency, "P95=300ms", expectQuantile + ` (percentile "P95" is not p<number> like p95)`},
		"max-latency no number":        {AnnMaxLatency, "p=300ms", expectQuantile + ` (percentile "p" is not p<number> like p95)`},
		"max-latency spaced":           {AnnMaxLatency, "p95 = 300ms", expectQuantile + ` (percentile "p95 " is not p<number> like p95; limit " 300ms" is not a Go duration greater than 0 like 300ms)`},
		"max-latency below p50":        {AnnMaxLatency, "p49.9=300ms", expectQuantile + ` (percentile "p49.9" is outside p50..p99.9)`},
		"max-latency p99.99":           {AnnMaxLatency, "p99.99=1s", expectQuantile + ` (percentile "p99.99" is outside p50..p99.9)`},
		"max-latency p999":             {AnnMaxLatency, "p999=1s", expectQuantile + ` (percentile "p999" is above p99.9 (the 99.9th percentile is written p99.9))`},
		"max-latency p100":             {AnnMaxLatency, "p100=1s", expectQuantile + ` (percentile "p100" is outside p50..p99.9)`},
		"max-latency NaN":              {AnnMaxLatency, "pNaN=1s", expectQuantile + ` (percentile "pNaN" is not p<number> like p95)`},
		"max-latency zero limit":       {AnnMaxLatency, "p95=0s", expectQuantile + ` (limit "0s" is not a Go duration greater than 0 like 300ms)`},
		"max-latency no unit":          {AnnMaxLatency, "p95=300", expectQuantile + ` (limit "300" is not a Go duration greater than 0 like 300ms)`},
		"max-latency two =":            {AnnMaxLatency, "p95=300ms=1s", expectQuantile + ` (limit "300ms=1s" is not a Go duration greater than 0 like 300ms)`},
		"max-latency both bad":         {AnnMaxLatency, "q95=-1s", expectQuantile + ` (percentile "q95" is not p<number> like p95; limit "-1s" is not a Go duration greater than 0 like 300ms)`},
		"min-requests zero":            {AnnMinRequests, "0", expectCount},
		"min-requests negative":        {AnnMinRequests, "-1", expectCount},
		"min-requests fraction":        {AnnMinRequests, "1.5", expectCount},
		"min-requests overflow":        {AnnMinRequests, "99999999999999999999", expectCount},
		"min-requests plus":            {AnnMinRequests, "+5", expectCount},
		"stats-from empty":             {AnnStatsFrom, "", expectStats + ` (the selector is empty)`},
		"stats-from only ns":           {AnnStatsFrom, "namespace=istio-system", expectStats + ` (the selector is empty)`},
		"stats-from bad ns":            {AnnStatsFrom, "app=gw,namespace=Bad_NS", expectStats + ` (namespace "Bad_NS" is not a DNS-1123 label)`},
		"stats-from empty ns":          {AnnStatsFrom, "app=gw,namespace=", expectStats + ` (namespace "" is not a DNS-1123 label)`},
		"unknown key with typo":        {"sluice.dev/canery", "v2", "a known sluice annotation; did you mean sluice.dev/canary?"},
		"p95 written like the p99 key": {"sluice.dev/max-latency-p95", "300ms", `a known sluice annotation; did you mean sluice.dev/max-latency: "p95=300ms"?`},
		"max-latency typo":             {"sluice.dev/max-latncy", "p95=300ms", "a known sluice annotation; did you mean sluice.dev/max-latency?"},
		"commit not hex":               {AnnReleaseCommit, "release-1.4", "a commit hash of 7 to 64 hexadecimal digits"},
		"commit too short":             {AnnReleaseCommit, "3f9c", "a commit hash of 7 to 64 hexadecimal digits"},
		"pipeline with a newline":      {AnnReleasePipeline, "build\n@channel", "printable text of 1 to 256 bytes without control characters"},
		"pipeline of 1 MB":             {AnnReleasePipeline, strings.Repeat("x", 1<<20), "printable text of 1 to 256 bytes without control characters"},
		"by not UTF-8":                 {AnnReleaseBy, "\xff\xfe", "printable text of 1 to 256 bytes without control characters"},
		"url javascript":               {AnnReleaseURL, "javascript:alert(1)", "an absolute http(s) URL of at most 2048 bytes"},
		"url relative":                 {AnnReleaseURL, "/builds/1", "an absolute http(s) URL of at most 2048 bytes"},
		"release canary not a subset":  {AnnReleaseCanary, "V2!", expectSubset},
		"approve a weight of 0":        {AnnApprove, "v2@0", expectApprove},
		"approve a bad weight":         {AnnApprove, "v2@half", expectApprove},
		"approve no subset":            {AnnApprove, "@50", expectApprove},
		"approve misspelt":             {AnnSteps, "5,50:aprove,100", expectSteps + ` (step 2: dwell "aprove" is not a Go duration >= 0 like 1m)`},
		"unknown key far off":          {"sluice.dev/something-else-entirely", "1", "one of sluice.dev/enabled, sluice.dev/canary, sluice.dev/stable, sluice.dev/virtualservice, sluice.dev/policy, sluice.dev/steps, sluice.dev/step-duration, sluice.dev/max-error-rate, sluice.dev/max-latency-p99, sluice.dev/max-latency, sluice.dev/min-requests, sluice.dev/checks, sluice.dev/stats-from, sluice.dev/paused, sluice.dev/promote, sluice.dev/abort, sluice.dev/retry, sluice.dev/approve, sluice.dev/on-alert, sluice.dev/release-canary, sluice.dev/release-commit, sluice.dev/release-pipeline, sluice.dev/release-url, sluice.dev/release-by"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(map[string]string{tc.key: tc.value, "app.kubernetes.io/name": "reviews"}, nil)
			var inv *InvalidError
			if !errors.As(err, &inv) {
				t.Fatalf("Parse error = %v, want *InvalidError", err)
			}
			want := []Problem{{Field: tc.key, Value: tc.value, Expected: tc.expected}}
			if !reflect.DeepEqual(inv.Problems, want) {
				t.Fatalf("Problems =\n%#v\nwant\n%#v", inv.Problems, want)
			}
			msg := err.Error()
			for _, part := range []string{tc.key + ": ", strconv.Quote(tc.value), "expected " + tc.expected} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not contain %q", msg, part)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("one problem gave a multi-line message %q", msg)
			}
		})
	}
}

func TestParseStatsFromSyntaxError(t *testing.T) {
	for name, value := range map[string]string{"unclosed set": "app in (a", "set without parentheses": "app in a", "bad key": "-app=x"} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(map[string]string{AnnStatsFrom: value}, nil)
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) != 1 {
				t.Fatalf("Parse error = %v, want one problem", err)
			}
			p := inv.Problems[0]
			if p.Field != AnnStatsFrom || p.Value != value || !strings.HasPrefix(p.Expected, expectStats+` (selector "`) {
				t.Errorf("Problem = %#v, want the selector's syntax error", p)
			}
		})
	}
}

func TestReleaseFor(t *testing.T) {
	r := Release{Canary: "v2", Commit: "3f9c1e2a"}
	if got := r.For("v2"); got.Commit != "3f9c1e2a" || got.Canary != "v2" {
		t.Fatalf("For(v2) = %+v", got)
	}
	if got := r.For("v3"); got != (Release{}) {
		t.Fatalf("a release context for v2 labels v3: %+v", got)
	}
	if got := (Release{Commit: "3f9c1e2a"}).For("v3"); got.Commit != "3f9c1e2a" || got.Canary != "v3" {
		t.Fatalf("without release-canary the context applies to the canary read with it: %+v", got)
	}
}

func TestApprovalApproves(t *testing.T) {
	tests := map[string]struct {
		a      Approval
		canary string
		w      int32
		want   bool
	}{
		"every gate":           {Approval{"v2", 100}, "v2", 80, true},
		"up to 50, gate at 50": {Approval{"v2", 50}, "v2", 50, true},
		"up to 50, gate at 80": {Approval{"v2", 50}, "v2", 80, false},
		"another canary's":     {Approval{"v2", 100}, "v3", 50, false},
		"no approval":          {Approval{}, "v2", 5, false},
	}
	for name, tc := range tests {
		if got := tc.a.Approves(tc.canary, tc.w); got != tc.want {
			t.Errorf("%s: Approves = %v, want %v", name, got, tc.want)
		}
	}
}
