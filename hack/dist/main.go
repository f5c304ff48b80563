// Command dist builds the release archives of kubectl-sluice (static binaries for
// linux/darwin × amd64/arm64 and windows/amd64, each with the completion helper and the
// README), their SHA256SUMS, and the krew manifest rendered from .krew.yaml with those
// checksums, into dist/.
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// Platform is one release target.
type Platform struct {
	OS, Arch string
	// Archive is the file name; Binary the plugin's name inside it; SHA256 the archive's.
	Archive, Binary, SHA256 string
}

// platforms are the release targets, in the manifest's order.
var platforms = []Platform{
	{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"},
	{OS: "darwin", Arch: "amd64"}, {OS: "darwin", Arch: "arm64"},
	{OS: "windows", Arch: "amd64"},
}

// epoch dates every archive entry, so the same build gives the same archive bytes.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	version := flag.String("version", "", "release version, e.g. v0.2.0 (default: git describe)")
	out := flag.String("out", "dist", "output directory")
	flag.Parse()
	if err := run(*version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(version, out string) error {
	if version == "" {
		v, err := git("describe", "--tags", "--always", "--dirty")
		if err != nil {
			return fmt.Errorf("reading the version from git: %w", err)
		}
		version = v
	}
	revision, err := git("rev-parse", "HEAD")
	if err != nil {
		return fmt.Errorf("reading the revision from git: %w", err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	helper, err := os.ReadFile("hack/kubectl_complete-sluice")
	if err != nil {
		return err
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return err
	}
	var sums strings.Builder
	ps := make([]Platform, len(platforms))
	for i, p := range platforms {
		p.Binary = "kubectl-sluice"
		if p.OS == "windows" {
			p.Binary += ".exe"
		}
		bin, err := build(p, version, revision, out)
		if err != nil {
			return err
		}
		files := []file{{p.Binary, bin, 0o755}, {"README.md", readme, 0o644}}
		if p.OS != "windows" {
			files = append(files, file{"kubectl_complete-sluice", helper, 0o755})
		}
		var archive []byte
		if p.OS == "windows" {
			p.Archive = fmt.Sprintf("kubectl-sluice_%s_%s_%s.zip", version, p.OS, p.Arch)
			archive, err = zipArchive(files)
		} else {
			p.Archive = fmt.Sprintf("kubectl-sluice_%s_%s_%s.tar.gz", version, p.OS, p.Arch)
			archive, err = tarGz(files)
		}
		if err != nil {
			return fmt.Errorf("archiving %s: %w", p.Archive, err)
		}
		if err := os.WriteFile(filepath.Join(out, p.Archive), archive, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(archive)
		p.SHA256 = hex.EncodeToString(sum[:])
		fmt.Fprintf(&sums, "%s  %s\n", p.SHA256, p.Archive)
		ps[i] = p
		fmt.Printf("%s  %s\n", p.SHA256, p.Archive)
	}
	if err := os.WriteFile(filepath.Join(out, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
		return err
	}
	tmpl, err := os.ReadFile(".krew.yaml")
	if err != nil {
		return err
	}
	manifest, err := renderManifest(string(tmpl), version, ps)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "sluice.yaml"), manifest, 0o644); err != nil {
		return err
	}
	fmt.Printf("krew manifest: %s\n", filepath.Join(out, "sluice.yaml"))
	return nil
}

// renderManifest fills the krew manifest template.
func renderManifest(tmpl, version string, ps []Platform) ([]byte, error) {
	t, err := template.New(".krew.yaml").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, fmt.Errorf("parsing .krew.yaml: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct {
		Version   string
		Platforms []Platform
	}{version, ps}); err != nil {
		return nil, fmt.Errorf("rendering .krew.yaml: %w", err)
	}
	return b.Bytes(), nil
}

// build compiles a static kubectl-sluice for p and returns it.
func build(p Platform, version, revision, out string) ([]byte, error) {
	path := filepath.Join(out, "build", p.OS+"-"+p.Arch, p.Binary)
	ld := fmt.Sprintf("-s -w -X github.com/sluicedev/sluice/pkg/version.version=%s -X github.com/sluicedev/sluice/pkg/version.revision=%s", version, revision)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ld, "-o", path, "./cmd/kubectl-sluice")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Arch)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("building for %s/%s: %w", p.OS, p.Arch, err)
	}
	return os.ReadFile(path)
}

// file is one archive entry.
type file struct {
	name string
	data []byte
	mode int64
}

func tarGz(files []file) ([]byte, error) {
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	gz.ModTime = epoch
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func zipArchive(files []file) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: epoch}
		h.SetMode(os.FileMode(f.mode))
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		if _, err := io.Copy(w, bytes.NewReader(f.data)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func git(args ...string) (string, error) {
	out, err := exec.Command("git", args...).Output()
	return strings.TrimSpace(string(out)), err
}
