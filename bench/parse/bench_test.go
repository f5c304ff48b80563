// Package parse_test benchmarks sluice's Envoy stats parser against Prometheus' expfmt.
package parse_test

import (
	"bytes"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/sluicedev/sluice/bench/internal/sidecarpage"
	"github.com/sluicedev/sluice/pkg/envoy"
)

var benchPage = generatePage()

func BenchmarkParse(b *testing.B) {
	b.Logf("page: %d bytes, %d lines", len(benchPage), bytes.Count(benchPage, []byte("\n")))
	cases := map[string]envoy.Query{
		"sluice/destination": {Host: benchHost, Side: envoy.Destination},
		"sluice/source":      {Host: benchHost, Side: envoy.Source},
	}
	for name, q := range cases {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(benchPage)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := envoy.Parse(benchPage, q)
				if err != nil || len(r.Subsets) == 0 {
					b.Fatalf("Parse = %v, %v", r, err)
				}
			}
		})
	}
	b.Run("expfmt/TextParser", func(b *testing.B) {
		b.SetBytes(int64(len(benchPage)))
		b.ReportAllocs()
		for b.Loop() {
			p := expfmt.NewTextParser(model.UTF8Validation)
			mf, err := p.TextToMetricFamilies(bytes.NewReader(benchPage))
			if err != nil || len(mf) == 0 {
				b.Fatalf("expfmt = %d families, %v", len(mf), err)
			}
		}
	})
}

// BenchmarkParseFiltered parses the page each of bench/scrape's 4,000 stand-ins serves
// (sidecarpage.Filtered: 170 KB, every sample line kept, ~25 labels each) on the
// destination side, as source.Destination does per pod, Report.Total included.
func BenchmarkParseFiltered(b *testing.B) {
	page := []byte(sidecarpage.Filtered("v1"))
	q := envoy.Query{Host: sidecarpage.Host, Side: envoy.Destination}
	b.Run("sluice/destination", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			r, err := envoy.Parse(page, q)
			if err != nil || r.Total().Requests != 121465 {
				b.Fatalf("Parse = %v, %v", r, err)
			}
		}
	})
	b.Run("expfmt/TextParser", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			p := expfmt.NewTextParser(model.UTF8Validation)
			mf, err := p.TextToMetricFamilies(bytes.NewReader(page))
			if err != nil || len(mf) == 0 {
				b.Fatalf("expfmt = %d families, %v", len(mf), err)
			}
		}
	})
}
