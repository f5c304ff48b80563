package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
	"github.com/sluicedev/sluice/pkg/mesh/istio"
)

func TestPendingAfter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	denied := istio.Failure{Name: "reviews-b", Err: errors.New(`admission webhook "freeze" denied the request`)}
	prev := &sluicev1alpha1.PendingWrite{Action: writeRollback, Stable: "v1", Canary: "v2", Weight: 0, Since: microPtr(t0), Attempts: 3,
		Failures: []sluicev1alpha1.WriteFailure{{VirtualService: "reviews-b", Message: "conflict"}}}
	tests := map[string]struct {
		prev          *sluicev1alpha1.PendingWrite
		action        string
		weight        int32
		outcome       istio.Outcome
		wantNil       bool
		wantAttempts  int32
		wantSince     time.Time
		wantFailing   []string
		wantInMessage []string
	}{
		"every VirtualService took it": {
			action: writeRollback, outcome: istio.Outcome{Written: []string{"a", "b"}, Unmanaged: []string{"gw"}}, wantNil: true,
		},
		"a refusal is pending, the others are not": {
			action: writeRollback, outcome: istio.Outcome{Written: []string{"reviews-a"}, Failed: []istio.Failure{denied}},
			wantAttempts: 1, wantSince: t0.Add(time.Second), wantFailing: []string{"reviews-b"},
			wantInMessage: []string{"Rollback write", `canary "v2" at weight 0`, "reviews-b", "denied", "1 attempt"},
		},
		"a retry of the same write counts on from its start": {
			prev: prev, action: writeRollback, outcome: istio.Outcome{Failed: []istio.Failure{denied}},
			wantAttempts: 4, wantSince: t0, wantFailing: []string{"reviews-b"}, wantInMessage: []string{"4 attempt(s)"},
		},
		"a retry that converges": {
			prev: prev, action: writeRollback, outcome: istio.Outcome{Written: []string{"reviews-b"}}, wantNil: true,
		},
		"a different write starts its own count": {
			prev: prev, action: writePromote, weight: 100, outcome: istio.Outcome{Failed: []istio.Failure{denied}},
			wantAttempts: 1, wantSince: t0.Add(time.Second), wantFailing: []string{"reviews-b"}, wantInMessage: []string{"Promote write", `canary "v2" alone`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := pendingAfter(tc.prev, tc.action, "v1", "v2", tc.weight, tc.outcome, t0.Add(time.Second))
			if tc.wantNil {
				if p != nil {
					t.Fatalf("pending %+v, want none", p)
				}
				return
			}
			if p == nil || p.Attempts != tc.wantAttempts || !p.Since.Time.Equal(tc.wantSince) || p.Action != tc.action {
				t.Fatalf("pending %+v, want %d attempts since %v", p, tc.wantAttempts, tc.wantSince)
			}
			if got := strings.Join(failing(p), ","); got != strings.Join(tc.wantFailing, ",") {
				t.Fatalf("failing %s, want %v", got, tc.wantFailing)
			}
			msg := describePending(p)
			for _, frag := range tc.wantInMessage {
				if !strings.Contains(msg, frag) {
					t.Errorf("message %q lacks %q", msg, frag)
				}
			}
		})
	}
}

func TestPendingBackoff(t *testing.T) {
	tests := map[int32]time.Duration{0: 100 * time.Millisecond, 1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 7: 5 * time.Second, 1000: 5 * time.Second}
	for attempts, want := range tests {
		if got := pendingBackoff(attempts); got != want {
			t.Errorf("pendingBackoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}
