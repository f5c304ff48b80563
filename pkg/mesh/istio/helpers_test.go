package istio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"sigs.k8s.io/yaml"
)

const fixtureDir = "../../../testdata/istio"

// testNS is the namespace fixtures are placed in (they carry none).
const testNS = "default"

// object is one decoded YAML document: its JSON and the typed object.
type object struct {
	raw []byte
	vs  *networkingv1.VirtualService
	dr  *networkingv1.DestinationRule
}

// parseDocs decodes a multi-document YAML stream into JSON documents, typed by kind.
func parseDocs(t testing.TB, data []byte) []object {
	t.Helper()
	var out []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		raw, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatalf("YAML to JSON: %v", err)
		}
		var meta struct{ Kind string }
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("reading kind: %v", err)
		}
		o := object{raw: raw}
		switch meta.Kind {
		case "VirtualService":
			o.vs = &networkingv1.VirtualService{}
			if err := json.Unmarshal(raw, o.vs); err != nil {
				t.Fatalf("decoding VirtualService: %v", err)
			}
			if o.vs.Namespace == "" {
				o.vs.Namespace = testNS
			}
		case "DestinationRule":
			o.dr = &networkingv1.DestinationRule{}
			if err := json.Unmarshal(raw, o.dr); err != nil {
				t.Fatalf("decoding DestinationRule: %v", err)
			}
			if o.dr.Namespace == "" {
				o.dr.Namespace = testNS
			}
		default:
			continue
		}
		out = append(out, o)
	}
	return out
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("reading fixture: %v", err)
	}
	return data
}

// loadVS returns the VirtualService called name from a fixture file, or from inline
// YAML when file is empty.
func loadVS(t testing.TB, file, inline, name string) object {
	t.Helper()
	data := []byte(inline)
	if file != "" {
		data = readFixture(t, file)
	}
	for _, o := range parseDocs(t, data) {
		if o.vs != nil && (name == "" || o.vs.Name == name) {
			return o
		}
	}
	t.Fatalf("no VirtualService %q in %s", name, file)
	return object{}
}

func loadDRs(t testing.TB, file string) []*networkingv1.DestinationRule {
	t.Helper()
	var out []*networkingv1.DestinationRule
	for _, o := range parseDocs(t, readFixture(t, file)) {
		if o.dr != nil {
			out = append(out, o.dr)
		}
	}
	return out
}

func applyPatch(doc, patch []byte) ([]byte, error) {
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}

// jsonEqual compares two JSON texts semantically.
func jsonEqual(t testing.TB, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("decoding got: %v", err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("decoding want: %v", err)
	}
	return reflect.DeepEqual(g, w)
}

// pathRE is the set of JSON paths a patch may touch.
var pathRE = regexp.MustCompile(`^/spec/http/(\d+)/(route(/.*)?|mirror(/.*)?|mirrorPercentage|mirrorPercent|mirrors(/.*)?)$`)

// patchRoutes checks every op path is allowed and returns the http route indices touched.
func patchRoutes(t testing.TB, patch []byte) map[int]bool {
	t.Helper()
	var ops []op
	if err := json.Unmarshal(patch, &ops); err != nil {
		t.Fatalf("decoding patch: %v", err)
	}
	seen := map[int]bool{}
	testsDone := false
	for _, o := range ops {
		m := pathRE.FindStringSubmatch(o.Path)
		if m == nil {
			t.Fatalf("patch touches %q, outside the managed routes' route/mirror fields: %s", o.Path, patch)
		}
		if o.Op == "test" && testsDone {
			t.Fatalf("test op after an edit: %s", patch)
		}
		testsDone = testsDone || o.Op != "test"
		i, _ := strconv.Atoi(m[1])
		seen[i] = true
	}
	return seen
}

// stripTouched removes the touched routes' route/mirror fields so what is left of
// before and after can be compared byte for byte (field order included).
func stripTouched(t testing.TB, doc []byte, routes map[int]bool) []byte {
	t.Helper()
	var v struct {
		Spec struct {
			HTTP []map[string]json.RawMessage `json:"http"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("decoding: %v", err)
	}
	var ops []string
	for i := range routes {
		for _, k := range []string{"route", "mirror", "mirrorPercentage", "mirrorPercent", "mirrors"} {
			if _, ok := v.Spec.HTTP[i][k]; ok {
				ops = append(ops, fmt.Sprintf(`{"op":"remove","path":"/spec/http/%d/%s"}`, i, k))
			}
		}
	}
	out, err := applyPatch(doc, []byte("["+strings.Join(ops, ",")+"]"))
	if err != nil {
		t.Fatalf("stripping: %v", err)
	}
	return out
}

// assertOthersIdentical proves the patch changed nothing outside the touched routes'
// route/mirror fields.
func assertOthersIdentical(t testing.TB, before, after, patch []byte) {
	t.Helper()
	routes := patchRoutes(t, patch)
	b, a := stripTouched(t, before, routes), stripTouched(t, after, routes)
	if !bytes.Equal(b, a) {
		t.Errorf("fields outside the managed routes changed:\nbefore %s\nafter  %s", b, a)
	}
}

// checkInvariants independently re-checks the weight invariants on every http route
// that sends to the target.
func checkInvariants(vs *networkingv1.VirtualService, tg Target) error {
	for i, r := range vs.Spec.GetHttp() {
		if !touchesTarget(r, tg, vs.Namespace) {
			continue
		}
		var sum int32
		for j, d := range r.GetRoute() {
			if d.GetDestination().GetHost() == "" {
				return fmt.Errorf("route %d destination %d: empty host", i, j)
			}
			if w := d.GetWeight(); w < 0 || w > 100 {
				return fmt.Errorf("route %d destination %d: weight %d", i, j, w)
			}
			sum += d.GetWeight()
		}
		if n := len(r.GetRoute()); (n > 1 && sum != 100) || (n == 1 && sum != 0 && sum != 100) {
			return fmt.Errorf("route %d: weights sum to %d", i, sum)
		}
	}
	return nil
}

// decodeVS decodes a VirtualService from JSON in the test namespace.
func decodeVS(t testing.TB, doc []byte) *networkingv1.VirtualService {
	t.Helper()
	vs := &networkingv1.VirtualService{}
	if err := json.Unmarshal(doc, vs); err != nil {
		t.Fatalf("decoding VirtualService: %v", err)
	}
	if vs.Namespace == "" {
		vs.Namespace = testNS
	}
	return vs
}
