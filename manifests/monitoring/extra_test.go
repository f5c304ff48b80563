package monitoring_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// extraCollectors are the metrics other packages register beside pkg/metrics.
func extraCollectors(t *testing.T) []prometheus.Collector {
	t.Helper()
	return nil
}
