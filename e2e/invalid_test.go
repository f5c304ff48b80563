package e2e

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/sluicedev/sluice/e2e/scenario"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

// Scenario 5: bad input gives the Invalid phase with a precise message and an Event, and
// every VirtualService stays byte-for-byte unchanged.
func TestBadInputIsInvalidAndChangesNothing(t *testing.T) {
	// A policy the API server must refuse at admission.
	bad := &sluicev1alpha1.ShiftPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "e2e-rejected"},
		Spec:       sluicev1alpha1.ShiftPolicySpec{Steps: []sluicev1alpha1.Step{{Weight: 50}, {Weight: 20}, {Weight: 100}}},
	}
	err := env.Client.Create(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), "strictly increasing") {
		t.Fatalf("policy with decreasing steps: want admission error naming the rule, got %v", err)
	}

	tests := map[string]struct {
		ann        map[string]string
		routing    string // "" = the default reviews routing
		wantReason string
		wantMsg    []string
	}{
		"malformed error rate": {
			ann:        map[string]string{"sluice.dev/max-error-rate": "1.5"},
			wantReason: "InvalidSpec", wantMsg: []string{"sluice.dev/max-error-rate", `"1.5"`, "expected"},
		},
		"malformed steps": {
			ann:        map[string]string{"sluice.dev/steps": "5,50,25"},
			wantReason: "InvalidSpec", wantMsg: []string{"sluice.dev/steps", `"5,50,25"`},
		},
		"malformed latency quantile": {
			ann:        map[string]string{"sluice.dev/max-latency": "p999=1s"},
			wantReason: "InvalidSpec", wantMsg: []string{"sluice.dev/max-latency", `"p999=1s"`, "is written p99.9", `like "p95=300ms"`},
		},
		"misspelt annotation": {
			ann:        map[string]string{"sluice.dev/canery": "v2"},
			wantReason: "InvalidSpec", wantMsg: []string{"sluice.dev/canery", "sluice.dev/canary"},
		},
		"subset missing from DestinationRule": {
			ann:        map[string]string{"sluice.dev/canary": "v9"},
			wantReason: "SubsetNotFound", wantMsg: []string{`"v9"`},
		},
		"no VirtualService routes to the host": {
			routing:    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: reviews}\nspec:\n  host: reviews\n  subsets:\n  - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews}\nspec:\n  hosts: [ratings]\n  http:\n  - route:\n    - destination: {host: ratings, subset: v1}\n",
			wantReason: "NoVirtualService", wantMsg: []string{"reviews", "no VirtualService"},
		},
		"named VirtualService does not exist": {
			ann:        map[string]string{"sluice.dev/virtualservice": "reviews,reviews-missing"},
			wantReason: "VirtualServiceNotFound", wantMsg: []string{"reviews-missing", "sluice.dev/virtualservice"},
		},
		"policy rejected at admission so absent": {
			ann:        map[string]string{"sluice.dev/policy": "e2e-rejected"},
			wantReason: "PolicyNotFound", wantMsg: []string{"e2e-rejected", "does not exist"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := newRollout(t, "invalid", 50, tc.routing)
			before := s.VSRaw("reviews")
			beforeRV := s.VS("reviews").ResourceVersion
			ann := map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2"}
			for k, v := range tc.ann {
				ann[k] = v
			}
			s.Annotate(ann)
			ts := s.WaitTS(15*time.Second, "Invalid", scenario.PhaseIs(sluicev1alpha1.PhaseInvalid))
			d := ts.Status.LastDecision
			if d == nil || d.Reason != tc.wantReason {
				t.Fatalf("reason: want %s, status %s", tc.wantReason, scenario.StatusJSON(ts))
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(d.Message, m) {
					t.Fatalf("message %q does not mention %q", d.Message, m)
				}
			}
			s.WaitEvent("TrafficShift", 5*time.Second, tc.wantReason, tc.wantMsg[0])
			// The same warning on the Service, where `kubectl describe service` shows it.
			svc := &corev1.Service{}
			scenario.Must(t, env.Client.Get(s.Ctx, client.ObjectKey{Namespace: s.NS, Name: s.Svc}, svc))
			if e := s.WaitEvent("Service", 5*time.Second, tc.wantReason, tc.wantMsg[0]); e.Regarding.UID != svc.UID || e.Regarding.Name != s.Svc {
				t.Fatalf("Service event regards %+v, want the Service %s (uid %s)", e.Regarding, s.Svc, svc.UID)
			}
			time.Sleep(time.Second) // would-be ticks: still nothing may be written
			if after := s.VSRaw("reviews"); !bytes.Equal(before, after) || s.VS("reviews").ResourceVersion != beforeRV {
				t.Fatalf("VirtualService changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// A spec fixed after being invalid starts the rollout normally.
func TestInvalidThenFixedStartsRollout(t *testing.T) {
	s := newRollout(t, "fixed", 100, "")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true", "sluice.dev/canary": "v2", "sluice.dev/min-requests": "zero"})
	s.WaitTS(15*time.Second, "Invalid", scenario.PhaseIs(sluicev1alpha1.PhaseInvalid))
	s.Annotate(map[string]string{"sluice.dev/min-requests": "20"})
	s.WaitTS(15*time.Second, "Progressing", scenario.PhaseIs(sluicev1alpha1.PhaseProgressing))
	if w := s.Weights("reviews"); w["v2"] != 5 || w["v1"] != 95 {
		t.Fatalf("weights after the fix: %v", w)
	}
}
