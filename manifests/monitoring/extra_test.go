package monitoring_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicedev/sluice/pkg/notify"
)

// extraCollectors are the metrics other packages than pkg/metrics define: the
// notification counter (pkg/notify).
func extraCollectors(t *testing.T) []prometheus.Collector {
	t.Helper()
	return []prometheus.Collector{notify.NewCounter()}
}
