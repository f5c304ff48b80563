package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicedev/sluice/e2e/scenario"
	"github.com/sluicedev/sluice/e2e/standin"
	sluicev1alpha1 "github.com/sluicedev/sluice/pkg/apis/sluice/v1alpha1"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "istio", name))
	scenario.Must(t, err)
	return string(b)
}

// httpRoutes returns the VirtualService's spec.http entries as raw JSON, one per route.
func (s *rollout) httpRoutes(name string) []string {
	s.T.Helper()
	var spec struct {
		HTTP []json.RawMessage `json:"http"`
	}
	scenario.Must(s.T, json.Unmarshal(s.VSRaw(name), &spec))
	out := make([]string, len(spec.HTTP))
	for i, r := range spec.HTTP {
		out[i] = string(r)
	}
	return out
}

// Scenario 6a: a header route pinned to a subset survives a rollout and a rollback untouched.
func TestPinnedHeaderRouteUntouched(t *testing.T) {
	s := newRollout(t, "pinned", 200, fixture(t, "destination-rule-all.yaml")+"\n---\n"+fixture(t, "virtual-service-reviews-jason-v2-v3.yaml"))
	before := s.httpRoutes("reviews")
	s.Annotate(fastRollout("v1")) // stable is v3 (the default route), pinned jason route goes to v2
	ts := s.WaitTS(20*time.Second, "step 1", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 5 })
	if ts.Status.Stable != "v3" {
		t.Fatalf("stable inferred %q, want v3 (the default route's subset)", ts.Status.Stable)
	}
	mid := s.httpRoutes("reviews")
	if mid[0] != before[0] {
		t.Fatalf("pinned jason route changed:\nbefore %s\nafter  %s", before[0], mid[0])
	}
	if w := s.Weights("reviews"); w["v3"] != 95 || w["v1"] != 5 {
		t.Fatalf("default route weights %v, want v3=95 v1=5", w)
	}
	s.Fleet.SetBehaviour("v1", standin.SubsetBehaviour{ErrorRate: 1})
	s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	after := s.httpRoutes("reviews")
	if after[0] != before[0] {
		t.Fatalf("pinned route changed by the rollback:\nbefore %s\nafter  %s", before[0], after[0])
	}
	if w := s.Weights("reviews"); len(w) != 1 || w["v3"] != 100 {
		t.Fatalf("default route after rollback %v, want v3 alone (%s)", w, after[1])
	}
}

// Scenario 6b: fault injection on a matched route survives the weight changes.
func TestFaultInjectionPreserved(t *testing.T) {
	s := newRolloutFor(t, "fault", "ratings", 200, fixture(t, "destination-rule-all.yaml")+"\n---\n"+fixture(t, "virtual-service-ratings-test-abort.yaml"))
	var before []map[string]json.RawMessage
	scenario.Must(t, json.Unmarshal([]byte("["+join(s.httpRoutes("ratings"))+"]"), &before))
	s.Annotate(fastRollout("v2"))
	s.WaitTS(20*time.Second, "step 2", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	var mid []map[string]json.RawMessage
	scenario.Must(t, json.Unmarshal([]byte("["+join(s.httpRoutes("ratings"))+"]"), &mid))
	for i := range before {
		for k, v := range before[i] {
			if k == "route" {
				continue
			}
			if string(mid[i][k]) != string(v) {
				t.Fatalf("route %d field %s changed: %s → %s", i, k, v, mid[i][k])
			}
		}
	}
	if string(mid[0]["fault"]) == "" {
		t.Fatal("fault injection was dropped")
	}
	// Both routes send ratings to v1 alone: both are managed and shift together.
	for i := range mid {
		var route []struct {
			Destination struct{ Subset string } `json:"destination"`
			Weight      int32                   `json:"weight"`
		}
		scenario.Must(t, json.Unmarshal(mid[i]["route"], &route))
		got := map[string]int32{}
		for _, d := range route {
			got[d.Destination.Subset] = d.Weight
		}
		if got["v1"] != 75 || got["v2"] != 25 {
			t.Fatalf("route %d weights %v, want v1=75 v2=25", i, got)
		}
	}
}

func join(parts []string) string {
	out := ""
	for i, p := range parts {
		if i > 0 {
			out += ","
		}
		out += p
	}
	return out
}

// Scenario 6c: two VirtualServices routing to the host shift together and roll back together.
func TestTwoVirtualServicesShiftTogether(t *testing.T) {
	second := "\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews-edge}\nspec:\n  hosts: [reviews.example.com]\n  http:\n  - timeout: 3s\n    route:\n    - destination: {host: reviews, subset: v1, port: {number: 9080}}\n"
	s := newRollout(t, "twovs", 200, scenario.Routing+second)
	s.Annotate(fastRollout("v2"))
	ts := s.WaitTS(20*time.Second, "step 2", func(ts *sluicev1alpha1.TrafficShift) bool { return ts.Status.Weight == 25 })
	if len(ts.Status.VirtualServices) != 2 {
		t.Fatalf("want both VirtualServices managed, status %s", scenario.StatusJSON(ts))
	}
	for _, vs := range []string{"reviews", "reviews-edge"} {
		if w := s.Weights(vs); w["v1"] != 75 || w["v2"] != 25 {
			t.Fatalf("%s weights %v, want v1=75 v2=25", vs, w)
		}
	}
	s.Fleet.SetBehaviour("v2", standin.SubsetBehaviour{ErrorRate: 1})
	s.WaitTS(10*time.Second, "RolledBack", scenario.PhaseIs(sluicev1alpha1.PhaseRolledBack))
	for _, vs := range []string{"reviews", "reviews-edge"} {
		if w := s.Weights(vs); len(w) != 1 || w["v1"] != 100 {
			t.Fatalf("%s after rollback %v, want v1 alone", vs, w)
		}
	}
	var edge struct {
		HTTP []struct {
			Timeout string `json:"timeout"`
		} `json:"http"`
	}
	scenario.Must(t, json.Unmarshal(s.VSRaw("reviews-edge"), &edge))
	if edge.HTTP[0].Timeout != "3s" {
		t.Fatalf("timeout of reviews-edge lost: %+v", edge)
	}
}

// Scenario 6d: a gateway-bound route to the host without subsets is reported, not guessed at.
func TestGatewayRouteWithoutSubsetReported(t *testing.T) {
	routing := fixture(t, "destination-rule-all.yaml") + "\n---\n" + fixture(t, "virtual-service-all-v1.yaml") + "\n---\n" + fixture(t, "bookinfo-gateway.yaml")
	s := newRolloutFor(t, "gateway", "productpage", 50, routing)
	before := s.VSRaw("bookinfo")
	s.Annotate(map[string]string{"sluice.dev/enabled": "true"})
	ts := s.WaitTS(15*time.Second, "bypass route reported", func(ts *sluicev1alpha1.TrafficShift) bool { return len(ts.Status.BypassRoutes) > 0 })
	if b := ts.Status.BypassRoutes[0]; b.VirtualService != "bookinfo" || b.Index != 0 {
		t.Fatalf("bypass routes %+v, want bookinfo http[0]", ts.Status.BypassRoutes)
	}
	if ts.Status.Phase != sluicev1alpha1.PhaseIdle || ts.Status.Stable != "v1" {
		t.Fatalf("status %s", scenario.StatusJSON(ts))
	}
	s.WaitEvent("TrafficShift", 5*time.Second, "RoutesBypassShift", "bookinfo http[0]")
	if after := s.VSRaw("bookinfo"); string(after) != string(before) {
		t.Fatalf("gateway VirtualService changed")
	}
}
