package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestManifest renders the repository's .krew.yaml and checks that every platform gets
// its archive URL, checksum and binary.
func TestManifest(t *testing.T) {
	tmpl, err := os.ReadFile("../../.krew.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps := make([]Platform, len(platforms))
	for i, p := range platforms {
		p.Binary, p.Archive, p.SHA256 = "kubectl-sluice", p.OS+"-"+p.Arch+".tar.gz", strings.Repeat(string(rune('a'+i)), 64)
		ps[i] = p
	}
	out, err := renderManifest(string(tmpl), "v9.9.9", ps)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Kind     string
		Metadata struct{ Name string }
		Spec     struct {
			Version   string
			Platforms []struct {
				Selector struct{ MatchLabels map[string]string } `json:"selector"`
				URI      string
				SHA256   string `json:"sha256"`
				Bin      string
				Files    []struct{ From, To string }
			}
		}
	}
	if err := yaml.Unmarshal(out, &m); err != nil {
		t.Fatalf("rendered manifest: %v\n%s", err, out)
	}
	if m.Kind != "Plugin" || m.Metadata.Name != "sluice" || m.Spec.Version != "v9.9.9" || len(m.Spec.Platforms) != len(platforms) {
		t.Fatalf("manifest = %+v", m)
	}
	for i, p := range m.Spec.Platforms {
		want := ps[i]
		if p.Selector.MatchLabels["os"] != want.OS || p.Selector.MatchLabels["arch"] != want.Arch || p.SHA256 != want.SHA256 ||
			p.URI != "https://github.com/sluicedev/sluice/releases/download/v9.9.9/"+want.Archive || p.Bin != want.Binary || len(p.Files) < 2 {
			t.Errorf("platform %d = %+v, want %+v", i, p, want)
		}
	}
}

// TestTarGzDeterministic: the same files give the same bytes (so checksums are stable)
// and the archive holds them with their modes.
func TestTarGzDeterministic(t *testing.T) {
	files := []file{{"kubectl-sluice", []byte("binary"), 0o755}, {"README.md", []byte("# sluice"), 0o644}}
	a, err := tarGz(files)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tarGz(files)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two archives of the same files differ")
	}
	gz, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for _, f := range files {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name != f.name || h.Mode != f.mode || !bytes.Equal(data, f.data) {
			t.Errorf("entry %s mode %o = %q", h.Name, h.Mode, data)
		}
	}
}
