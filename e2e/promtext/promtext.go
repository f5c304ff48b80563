// Package promtext writes Prometheus text-format samples as Envoy and Istio's proxies
// render them on /stats/prometheus, for the lab's stand-ins (e2e/standin, e2e/meshlab):
// sample lines, request-duration histograms over Istio's default buckets, and Istio's
// standard request labels in Istio's own order.
package promtext

import (
	"bufio"
	"slices"
	"strconv"
	"strings"
)

// DurationBuckets are the finite bounds (ms) of Istio's and Envoy's default request
// duration histograms; +Inf follows.
var DurationBuckets = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Histogram is a request-duration histogram over DurationBuckets, in whole milliseconds
// like Envoy's. The zero value is empty and ready to use.
type Histogram struct {
	Buckets []uint64 // per bucket, not cumulative; len(DurationBuckets)+1, last is +Inf
	SumMs   uint64
	Count   uint64
}

// Observe counts one duration of ms milliseconds.
func (h *Histogram) Observe(ms uint64) {
	h.grow()
	i, _ := slices.BinarySearch(DurationBuckets, float64(ms))
	h.Buckets[i]++
	h.SumMs += ms
	h.Count++
}

// Add adds o's observations into h.
func (h *Histogram) Add(o Histogram) {
	h.grow()
	for i, n := range o.Buckets {
		h.Buckets[i] += n
	}
	h.SumMs += o.SumMs
	h.Count += o.Count
}

// Clone is a copy of h that shares nothing with it.
func (h Histogram) Clone() Histogram {
	h.Buckets = slices.Clone(h.Buckets)
	return h
}

func (h *Histogram) grow() {
	if h.Buckets == nil {
		h.Buckets = make([]uint64, len(DurationBuckets)+1)
	}
}

// Labels renders name="value" pairs in the order given, values escaped.
func Labels(pairs ...[2]string) string {
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p[0])
		b.WriteString(`="`)
		b.WriteString(labelEscaper.Replace(p[1]))
		b.WriteByte('"')
	}
	return b.String()
}

// WriteSample writes the line name{labels} v.
func WriteSample(bw *bufio.Writer, name, labels string, v uint64) {
	bw.WriteString(name)
	bw.WriteByte('{')
	bw.WriteString(labels)
	bw.WriteString("} ")
	bw.WriteString(strconv.FormatUint(v, 10))
	bw.WriteByte('\n')
}

// WriteHistogram writes the cumulative _bucket samples (labels, then le), _sum and
// _count of one series of family.
func WriteHistogram(bw *bufio.Writer, family, labels string, h Histogram) {
	h.grow()
	var cum uint64
	for i, n := range h.Buckets {
		cum += n
		le := "+Inf"
		if i < len(DurationBuckets) {
			le = strconv.FormatFloat(DurationBuckets[i], 'f', -1, 64)
		}
		sep := ","
		if labels == "" {
			sep = ""
		}
		WriteSample(bw, family+"_bucket", labels+sep+`le="`+le+`"`, cum)
	}
	WriteSample(bw, family+"_sum", labels, h.SumMs)
	WriteSample(bw, family+"_count", labels, h.Count)
}
