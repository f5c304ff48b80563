package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/sluicedev/sluice/pkg/mesh/istio"
	"github.com/sluicedev/sluice/pkg/source"
	"github.com/sluicedev/sluice/pkg/spec"
)

// aheadRecorder is a stats source that records the read-aheads asked of it.
type aheadRecorder struct{ asked []source.Request }

func (a *aheadRecorder) Read(context.Context, source.Request) (source.Snapshot, error) {
	return source.Snapshot{}, nil
}

func (a *aheadRecorder) ReadAhead(req source.Request) { a.asked = append(a.asked, req) }

// plainSource is a stats source that cannot read ahead.
type plainSource struct{}

func (plainSource) Read(context.Context, source.Request) (source.Snapshot, error) {
	return source.Snapshot{}, nil
}

// A rollout that asked for a recheck has its callers' next pages started, after its own
// page marks; a rollout whose source cannot read ahead (its own sidecars) is left as it is.
func TestReadAhead(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "reviews"}}
	callers := &spec.StatsFrom{Selector: labels.SelectorFromSet(labels.Set{"app": "gw"}), Namespace: "istio-system"}
	tests := map[string]struct {
		statsFrom *spec.StatsFrom
		want      bool
	}{
		"callers: read ahead":            {statsFrom: callers, want: true},
		"own sidecars: nothing to start": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := &aheadRecorder{}
			r := &Reconciler{Stats: Sources{Callers: rec, Destination: plainSource{}}}
			w := &world{svc: svc, target: istio.Target{Name: svc.Name, Namespace: svc.Namespace},
				spec: spec.Spec{Interval: 500 * time.Millisecond, StatsFrom: tc.statsFrom}}
			rm := &rolloutMemory{}
			r.readAhead(w, rm)
			if !tc.want {
				if len(rec.asked) != 0 {
					t.Fatalf("read ahead %d times, want none", len(rec.asked))
				}
				return
			}
			if len(rec.asked) != 1 {
				t.Fatalf("read ahead %d times, want once", len(rec.asked))
			}
			got := rec.asked[0]
			if got.Seen != &rm.pages || got.Host != "reviews.shop.svc.cluster.local" || got.StatsFrom != callers {
				t.Errorf("read ahead with %+v, want the rollout's page marks, its host and callers", got)
			}
		})
	}
}
