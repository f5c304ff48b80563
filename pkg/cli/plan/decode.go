// Package plan runs sluice's VirtualService weight transform offline (the plugin's plan
// command): it decodes VirtualService documents strictly and reports the JSON patch
// sluice would write, the resulting object, and how it treats each route.
package plan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	istioapi "istio.io/api/networking/v1alpha3"
	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// MaxInput is the largest input plan reads.
const MaxInput = 16 << 20

// Document is one VirtualService of the input.
type Document struct {
	// Index is the document's 1-based position in the input (items of a List count
	// as documents of their own).
	Index int
	// Raw is the document as JSON, exactly as given (the patch applies to it).
	Raw []byte
	// VS is the decoded object, as the controller's client would decode it.
	VS *networkingv1.VirtualService
}

// Validation says what to do with fields Istio's VirtualService does not have, like
// kubectl's --validate.
type Validation string

const (
	// Strict makes an unknown field an error (kubectl apply's default).
	Strict Validation = "strict"
	// Warn reports unknown fields as warnings and goes on.
	Warn Validation = "warn"
	// Ignore drops unknown fields silently, as the API server prunes them.
	Ignore Validation = "ignore"
)

// ParseValidation reads a --validate value (true = strict, false = ignore, as kubectl).
func ParseValidation(v string) (Validation, error) {
	switch strings.ToLower(v) {
	case "strict", "true":
		return Strict, nil
	case "warn":
		return Warn, nil
	case "ignore", "false":
		return Ignore, nil
	}
	return "", fmt.Errorf("--validate %q: want strict, warn or ignore", v)
}

// Input is a decoded input stream.
type Input struct {
	Docs    []Document
	Skipped []Skipped
	// Warnings are the unknown fields let through by Warn.
	Warnings []string
}

// Skipped is a document of another kind, ignored by plan.
type Skipped struct {
	Index      int
	Kind, Name string
}

// virtualServiceVersions are the API versions of networking.istio.io that serve
// VirtualService.
var virtualServiceVersions = map[string]bool{
	"networking.istio.io/v1": true, "networking.istio.io/v1beta1": true, "networking.istio.io/v1alpha3": true,
}

// topLevel are the fields a VirtualService object may have.
var topLevel = map[string]bool{"apiVersion": true, "kind": true, "metadata": true, "spec": true, "status": true}

// Decode splits a YAML or JSON stream into documents and decodes its VirtualServices:
// invalid YAML, duplicate keys and values of the wrong type are errors naming the
// document, and so are fields Istio's VirtualService does not have unless v says
// otherwise. Documents of other kinds are returned as skipped; v1 Lists are unpacked.
func Decode(data []byte, v Validation) (*Input, error) {
	if len(data) > MaxInput {
		return nil, fmt.Errorf("input is %d bytes, more than %d", len(data), MaxInput)
	}
	in := &Input{}
	d := decoder{validation: v, in: in}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		chunk, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading document %d: %w", d.n+1, err)
		}
		if isBlank(chunk) {
			continue
		}
		d.n++
		raw, err := yaml.YAMLToJSONStrict(chunk)
		if err != nil {
			return nil, fmt.Errorf("document %d: invalid YAML: %w", d.n, err)
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			d.n--
			continue
		}
		if err := d.object(raw); err != nil {
			return nil, err
		}
	}
	if len(in.Docs) == 0 {
		found := "nothing"
		if len(in.Skipped) > 0 {
			var kinds []string
			for _, s := range in.Skipped {
				kinds = append(kinds, s.Kind+"/"+s.Name)
			}
			found = strings.Join(kinds, ", ")
		}
		return nil, fmt.Errorf("no VirtualService in the input (found %s)", found)
	}
	return in, nil
}

// decoder decodes the documents of one input.
type decoder struct {
	validation Validation
	in         *Input
	n          int // the current document's number
}

// isBlank reports a document holding only whitespace, comments and separators.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") && l != "---" {
			return false
		}
	}
	return true
}

// object decodes one JSON object (a document, or an item of a List).
func (d *decoder) object(raw []byte) error {
	n := &d.n
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return fmt.Errorf("document %d: not an object: %w", *n, err)
	}
	var tm metav1.TypeMeta
	for k, dst := range map[string]*string{"apiVersion": &tm.APIVersion, "kind": &tm.Kind} {
		if v, ok := fields[k]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return fmt.Errorf("document %d: %s must be a string: %w", *n, k, err)
			}
		}
	}
	switch {
	case tm.Kind == "List" && tm.APIVersion == "v1":
		var items []json.RawMessage
		if err := json.Unmarshal(fields["items"], &items); err != nil && fields["items"] != nil {
			return fmt.Errorf("document %d: List items: %w", *n, err)
		}
		for i, item := range items {
			if i > 0 {
				*n++
			}
			if err := d.object(item); err != nil {
				return err
			}
		}
		return nil
	case tm.Kind != "VirtualService":
		if tm.Kind == "" {
			return fmt.Errorf("document %d: no kind: not a Kubernetes object", *n)
		}
		var meta struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		_ = json.Unmarshal(raw, &meta)
		d.in.Skipped = append(d.in.Skipped, Skipped{Index: *n, Kind: tm.Kind, Name: meta.Metadata.Name})
		return nil
	case !virtualServiceVersions[tm.APIVersion]:
		return fmt.Errorf("document %d: VirtualService of apiVersion %q: want networking.istio.io/v1, v1beta1 or v1alpha3", *n, tm.APIVersion)
	}
	doc, err := d.virtualService(raw, fields)
	if err != nil {
		return fmt.Errorf("document %d: %w", *n, err)
	}
	doc.Index = *n
	d.in.Docs = append(d.in.Docs, doc)
	return nil
}

// unknownField reports a field Istio's VirtualService does not have, as the validation says.
func (d *decoder) unknownField(id, msg string) error {
	switch d.validation {
	case Warn:
		d.in.Warnings = append(d.in.Warnings, fmt.Sprintf("document %d: %s: %s (left in the output; the API server would prune it)", d.n, id, msg))
		return nil
	case Ignore:
		return nil
	}
	return fmt.Errorf("%s: %s (kubectl apply --validate=strict rejects it too; plan --validate=warn goes on without it)", id, msg)
}

// virtualService checks every field (unknown ones as the validation says, values
// always), then decodes the object the way the controller's client does.
func (d *decoder) virtualService(raw []byte, fields map[string]json.RawMessage) (Document, error) {
	var unknown []string
	for k := range fields {
		if !topLevel[k] {
			unknown = append(unknown, k)
		}
	}
	var meta metav1.ObjectMeta
	if m, ok := fields["metadata"]; ok {
		if err := json.Unmarshal(m, &meta); err != nil {
			return Document{}, fmt.Errorf("VirtualService metadata: %w", err)
		}
	}
	id := "VirtualService " + orUnnamed(meta.Name)
	if len(unknown) > 0 {
		sort.Strings(unknown)
		if err := d.unknownField(id, "unknown field(s) "+strings.Join(quoteAll(unknown), ", ")); err != nil {
			return Document{}, err
		}
	}
	if m, ok := fields["metadata"]; ok {
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&metav1.ObjectMeta{}); err != nil {
			if err := d.unknownField(id, "metadata: "+err.Error()); err != nil {
				return Document{}, err
			}
		}
	}
	if s, ok := fields["spec"]; ok && !bytes.Equal(bytes.TrimSpace(s), []byte("null")) {
		// Values are always checked; unknown fields as the validation says.
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(s, &istioapi.VirtualService{}); err != nil {
			return Document{}, fmt.Errorf("%s: spec: %w", id, err)
		}
		if err := (protojson.UnmarshalOptions{}).Unmarshal(s, &istioapi.VirtualService{}); err != nil {
			if err := d.unknownField(id, "spec: "+describeUnknown(s, err)); err != nil {
				return Document{}, err
			}
		}
	}
	vs := &networkingv1.VirtualService{}
	if err := json.Unmarshal(raw, vs); err != nil {
		return Document{}, fmt.Errorf("%s: %w", id, err)
	}
	return Document{Raw: raw, VS: vs}, nil
}

// unknownFieldRE finds the field name in protojson's unknown-field error.
var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)

// describeUnknown names the unknown field of err with its path in spec (the error's
// line:column refer to compact JSON, not to the user's YAML).
func describeUnknown(spec []byte, err error) string {
	m := unknownFieldRE.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	var v any
	if json.Unmarshal(spec, &v) != nil {
		return fmt.Sprintf("unknown field %q", m[1])
	}
	if p := findKey(v, m[1], "spec"); p != "" {
		return fmt.Sprintf("unknown field %q at %s", m[1], p)
	}
	return fmt.Sprintf("unknown field %q", m[1])
}

// findKey returns the path of the first object key named key in v, depth first.
func findKey(v any, key, path string) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == key {
				return path + "." + k
			}
		}
		for _, k := range keys {
			if p := findKey(x[k], key, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range x {
			if p := findKey(e, key, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

func orUnnamed(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return name
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}
