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

// Decode splits a YAML or JSON stream into documents and decodes its VirtualServices
// strictly: invalid YAML, duplicate keys, fields Istio's VirtualService does not have
// and values of the wrong type are errors naming the document. Documents of other kinds
// are returned as skipped; v1 Lists are unpacked.
func Decode(data []byte) ([]Document, []Skipped, error) {
	if len(data) > MaxInput {
		return nil, nil, fmt.Errorf("input is %d bytes, more than %d", len(data), MaxInput)
	}
	var docs []Document
	var skipped []Skipped
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		chunk, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading document %d: %w", n+1, err)
		}
		if isBlank(chunk) {
			continue
		}
		n++
		raw, err := yaml.YAMLToJSONStrict(chunk)
		if err != nil {
			return nil, nil, fmt.Errorf("document %d: invalid YAML: %w", n, err)
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			n--
			continue
		}
		if err := decodeObject(raw, &n, &docs, &skipped); err != nil {
			return nil, nil, err
		}
	}
	if len(docs) == 0 {
		found := "nothing"
		if len(skipped) > 0 {
			var kinds []string
			for _, s := range skipped {
				kinds = append(kinds, s.Kind+"/"+s.Name)
			}
			found = strings.Join(kinds, ", ")
		}
		return nil, nil, fmt.Errorf("no VirtualService in the input (found %s)", found)
	}
	return docs, skipped, nil
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

// decodeObject decodes one JSON object (document n, or an item of a List) into docs or skipped.
func decodeObject(raw []byte, n *int, docs *[]Document, skipped *[]Skipped) error {
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
			if err := decodeObject(item, n, docs, skipped); err != nil {
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
		*skipped = append(*skipped, Skipped{Index: *n, Kind: tm.Kind, Name: meta.Metadata.Name})
		return nil
	case !virtualServiceVersions[tm.APIVersion]:
		return fmt.Errorf("document %d: VirtualService of apiVersion %q: want networking.istio.io/v1, v1beta1 or v1alpha3", *n, tm.APIVersion)
	}
	d, err := decodeVirtualService(raw, fields)
	if err != nil {
		return fmt.Errorf("document %d: %w", *n, err)
	}
	d.Index = *n
	*docs = append(*docs, d)
	return nil
}

// decodeVirtualService checks every field strictly, then decodes the object the way
// the controller's client does.
func decodeVirtualService(raw []byte, fields map[string]json.RawMessage) (Document, error) {
	var unknown []string
	for k := range fields {
		if !topLevel[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return Document{}, fmt.Errorf("VirtualService: unknown field(s) %s", strings.Join(quoteAll(unknown), ", "))
	}
	var meta metav1.ObjectMeta
	if m, ok := fields["metadata"]; ok {
		dec := json.NewDecoder(bytes.NewReader(m))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&meta); err != nil {
			return Document{}, fmt.Errorf("VirtualService metadata: %w", err)
		}
	}
	id := "VirtualService " + orUnnamed(meta.Name)
	if s, ok := fields["spec"]; ok && !bytes.Equal(bytes.TrimSpace(s), []byte("null")) {
		if err := (protojson.UnmarshalOptions{}).Unmarshal(s, &istioapi.VirtualService{}); err != nil {
			return Document{}, fmt.Errorf("%s: spec: %w", id, err)
		}
	}
	vs := &networkingv1.VirtualService{}
	if err := json.Unmarshal(raw, vs); err != nil {
		return Document{}, fmt.Errorf("%s: %w", id, err)
	}
	return Document{Raw: raw, VS: vs}, nil
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
