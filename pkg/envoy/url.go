package envoy

import (
	"net/url"
	"regexp"
	"strings"
)

// StatsFilter returns an Envoy admin `filter` regex (RE2, partial match) selecting only the
// stats Parse reads for q: Istio's request metrics and, for the caller side, the
// upstream_rq stats of q.Host's outbound subset clusters (with or without Istio's ';').
func StatsFilter(q Query) string {
	if q.Side != Source || q.Host == "" {
		return "istio_request"
	}
	return `istio_request|cluster\.outbound\|[0-9]+\|[^|]+\|` + regexp.QuoteMeta(q.Host) + `;?\.upstream_rq`
}

// StatsURL appends `usedonly` and the StatsFilter of q to a stats endpoint URL such as
// http://10.0.0.1:15090/stats/prometheus, so Envoy renders and sends less.
func StatsURL(endpoint string, q Query) string {
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + "usedonly&filter=" + url.QueryEscape(StatsFilter(q))
}
