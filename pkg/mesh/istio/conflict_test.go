package istio

import (
	"strings"
	"testing"
)

func TestConcurrentEditFailsPatch(t *testing.T) {
	tests := map[string]struct {
		file   string
		w      int32
		edit   string // a JSON patch simulating someone else's write
		wantOK bool
	}{
		"weights edited": {file: "virtual-service-reviews-90-10.yaml", w: 25,
			edit: `[{"op":"replace","path":"/spec/http/0/route/0/weight","value":80},{"op":"replace","path":"/spec/http/0/route/1/weight","value":20}]`},
		"canary subset renamed": {file: "virtual-service-reviews-90-10.yaml", w: 25,
			edit: `[{"op":"replace","path":"/spec/http/0/route/1/destination/subset","value":"v3"}]`},
		"destination removed": {file: "virtual-service-reviews-90-10.yaml", w: 0,
			edit: `[{"op":"remove","path":"/spec/http/0/route/1"},{"op":"replace","path":"/spec/http/0/route/0/weight","value":100}]`},
		"host changed": {file: "virtual-service-all-v1.yaml", w: 5,
			edit: `[{"op":"replace","path":"/spec/http/0/route/0/destination/host","value":"reviews.other"}]`},
		"unrelated timeout added": {file: "virtual-service-reviews-90-10.yaml", w: 25, wantOK: true,
			edit: `[{"op":"add","path":"/spec/http/0/timeout","value":"2s"}]`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := loadVS(t, tc.file, "", "reviews")
			patch, changed, err := SetWeight(o.vs, reviews, "v1", "v2", tc.w)
			if err != nil || !changed {
				t.Fatalf("SetWeight: changed=%t err=%v", changed, err)
			}
			if _, err := applyPatch(o.raw, patch); err != nil {
				t.Fatalf("patch must apply to the object it was computed from: %v", err)
			}
			edited, err := applyPatch(o.raw, []byte(tc.edit))
			if err != nil {
				t.Fatalf("simulated edit: %v", err)
			}
			_, err = applyPatch(edited, patch)
			if tc.wantOK && err != nil {
				t.Fatalf("want the patch to apply after an unrelated edit: %v", err)
			}
			if !tc.wantOK && err == nil {
				t.Fatalf("patch %s applied over a concurrent edit", patch)
			}
		})
	}
}

// TestPatchKeepsFieldOrder: the patch edits values in place, so the document keeps its
// key order (not alphabetical here) byte for byte apart from the weights.
func TestPatchKeepsFieldOrder(t *testing.T) {
	const before = `{"kind":"VirtualService","metadata":{"name":"reviews","namespace":"default"},"spec":{"http":[` +
		`{"route":[{"destination":{"subset":"v1","host":"reviews"},"weight":90},{"weight":10,"destination":{"host":"reviews","subset":"v2"}}],"timeout":"2s","match":[{"uri":{"prefix":"/"}}]}` +
		`],"hosts":["reviews"]}}`
	tests := map[string]struct {
		w    int32
		want string
	}{
		"shift": {25, strings.NewReplacer(`"weight":90`, `"weight":75`, `"weight":10`, `"weight":25`).Replace(before)},
		"rollback": {0, strings.NewReplacer(`"weight":90`, `"weight":100`,
			`,{"weight":10,"destination":{"host":"reviews","subset":"v2"}}`, ``).Replace(before)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			patch, _, err := SetWeight(decodeVS(t, []byte(before)), reviews, "v1", "v2", tc.w)
			if err != nil {
				t.Fatal(err)
			}
			after, err := applyPatch([]byte(before), patch)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != tc.want {
				t.Errorf("after patch:\n got  %s\n want %s", after, tc.want)
			}
		})
	}
}
