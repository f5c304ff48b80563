package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestNewRegistersOnInjectedRegistry(t *testing.T) {
	tests := map[string]struct {
		twice   bool
		wantErr bool
	}{
		"fresh registry":   {},
		"registered twice": {twice: true, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := New(reg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.twice {
				_, err = New(reg)
				if (err != nil) != tc.wantErr {
					t.Fatalf("second New: err=%v, wantErr=%v", err, tc.wantErr)
				}
				return
			}
			m.Decisions.WithLabelValues("Rollback", "ErrorRate").Inc()
			m.CanaryWeight.WithLabelValues("ns", "svc").Set(25)
			want := `
# HELP sluice_canary_weight Canary weight sluice last wrote, per Service.
# TYPE sluice_canary_weight gauge
sluice_canary_weight{namespace="ns",service="svc"} 25
`
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_canary_weight"); err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(m.Decisions.WithLabelValues("Rollback", "ErrorRate")); got != 1 {
				t.Fatalf("decisions counter = %v, want 1", got)
			}
		})
	}
}
