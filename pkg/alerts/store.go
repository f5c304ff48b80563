package alerts

import (
	"context"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/lifecycle"
)

// Result is what became of one alert; it is also the metric's label.
type Result string

const (
	// Acted: recorded on the TrafficShift; the leader acts on it.
	Acted Result = "acted"
	// Repeat: the same alert (fingerprint and start) is already recorded.
	Repeat Result = "repeat"
	// IgnoredResolved: a resolved alert changes nothing.
	IgnoredResolved Result = "ignored-resolved"
	// IgnoredNoRollout: the Service has no canary carrying traffic.
	IgnoredNoRollout Result = "ignored-no-rollout"
	// IgnoredOtherCanary: the alert names a subset that is not the canary rolling out.
	IgnoredOtherCanary Result = "ignored-other-canary"
	// UnknownService: no label pair names a Service, or sluice does not manage it.
	UnknownService Result = "unknown-service"
	// RejectedAuth and BadRequest count refused calls; Error an alert sluice could not record.
	RejectedAuth Result = "rejected-auth"
	BadRequest   Result = "bad-request"
	Error        Result = "error"
)

// maxRecords bounds the alert records a TrafficShift keeps.
const maxRecords = 20

// Store records alerts on TrafficShifts through the API server.
type Store struct {
	// Client writes the status; Reader reads the TrafficShift uncached, so that a record
	// is checked against the rollout as it is now.
	Client client.Client
	Reader client.Reader
	Clock  clock.PassiveClock
}

// Record adds a firing alert to the TrafficShift of svc while a canary carries traffic
// there (and, when canary is set, only while that canary does). It returns once the
// record is stored, retrying on conflicts with the controller's own status writes.
func (s *Store) Record(ctx context.Context, svc types.NamespacedName, canary string, rec sluicev1alpha1.AlertRecord) (Result, error) {
	var res Result
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ts := &sluicev1alpha1.TrafficShift{}
		if err := s.Reader.Get(ctx, svc, ts); err != nil {
			if apierrors.IsNotFound(err) {
				res = UnknownService
				return nil
			}
			return fmt.Errorf("reading TrafficShift %s: %w", svc, err)
		}
		st := &ts.Status
		switch {
		case !lifecycle.Active(st.Phase) || st.Weight <= 0:
			res = IgnoredNoRollout
			return nil
		case canary != "" && canary != st.Canary:
			res = IgnoredOtherCanary
			return nil
		case slices.ContainsFunc(st.Alerts, func(a sluicev1alpha1.AlertRecord) bool {
			return a.Fingerprint == rec.Fingerprint && a.StartsAt.Equal(&rec.StartsAt)
		}):
			res = Repeat
			return nil
		}
		rec.Canary, rec.ReceivedAt = st.Canary, metav1.NewMicroTime(s.now())
		st.Alerts = append(st.Alerts, rec)
		if n := len(st.Alerts); n > maxRecords {
			st.Alerts = st.Alerts[n-maxRecords:]
		}
		res = Acted
		return s.Client.Status().Update(ctx, ts)
	})
	if err != nil {
		return Error, fmt.Errorf("recording alert %s on TrafficShift %s: %w", rec.Name, svc, err)
	}
	return res, nil
}

func (s *Store) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}
