package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	testSpec = Spec{
		Version:  "v0.0.0-imagetest",
		Revision: "0123456789abcdef0123456789abcdef01234567",
		Created:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	amd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// entry is one file of an image layer as a container runtime unpacks it.
type entry struct {
	Name       string
	Type       byte
	Mode       int64
	UID, GID   int
	Uname      string
	Gname      string
	ModTime    time.Time
	Body       string // files other than the binary
	BinarySize int64
}

// TestImage builds cmd/sluice twice (a minute or two cold), assembles and writes the
// image from each build, and reads it back from the docker archive and the OCI layout.
func TestImage(t *testing.T) {
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		defer cancel()
	}
	var outs []Output
	for i := range 2 {
		dir := t.TempDir()
		bin := filepath.Join(dir, "sluice")
		if err := BuildBinary(ctx, "../..", bin, amd64, testSpec); err != nil {
			t.Fatal(err)
		}
		img, err := Image(bin, amd64, testSpec)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Write(filepath.Join(dir, "image"), testSpec, []v1.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("build %d: digest %s, image ID %s", i, out.Digest, out.ImageID)
		outs = append(outs, out)
	}

	t.Run("reproducible", func(t *testing.T) {
		a, b := outs[0], outs[1]
		if a.Digest != b.Digest || a.ImageID != b.ImageID {
			t.Errorf("two builds of the same inputs differ: %s/%s vs %s/%s", a.Digest, a.ImageID, b.Digest, b.ImageID)
		}
		for _, f := range []string{a.Tarball, filepath.Join(a.Layout, "index.json")} {
			other := strings.Replace(f, filepath.Dir(filepath.Dir(a.Tarball)), filepath.Dir(filepath.Dir(b.Tarball)), 1)
			if sa, sb := fileSum(t, f), fileSum(t, other); sa != sb {
				t.Errorf("%s differs between two builds: %x vs %x", filepath.Base(f), sa, sb)
			}
		}
	})

	out := outs[0]
	sources := map[string]func() (v1.Image, error){
		"docker archive": func() (v1.Image, error) { return tarball.ImageFromPath(out.Tarball, &out.Tag) },
		"OCI layout":     func() (v1.Image, error) { return layoutImage(t, out) },
	}
	for name, open := range sources {
		t.Run(name, func(t *testing.T) {
			img, err := open()
			if err != nil {
				t.Fatal(err)
			}
			if id, err := img.ConfigName(); err != nil || id != out.ImageID {
				t.Errorf("image ID = %s, %v; want %s", id, err, out.ImageID)
			}
			checkConfig(t, img)
			entries, bin := layerEntries(t, img)
			want := []entry{
				{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
				{Name: "etc/group", Type: tar.TypeReg, Mode: 0o644, Body: "root:x:0:\nnonroot:x:65532:\n"},
				{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644,
					Body: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n"},
				{Name: "sluice", Type: tar.TypeReg, Mode: 0o755, BinarySize: int64(len(bin))},
			}
			for i := range want {
				want[i].ModTime = testSpec.Created
			}
			if !reflect.DeepEqual(entries, want) {
				t.Errorf("layer entries:\n got %+v\nwant %+v", entries, want)
			}
			checkBinary(t, bin)
		})
	}
}

func checkConfig(t *testing.T, img v1.Image) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" || !reflect.DeepEqual(c.Entrypoint, []string{"/sluice"}) || len(c.Cmd) != 0 {
		t.Errorf("user %q, entrypoint %q, cmd %q; want 65532:65532, [/sluice], none", c.User, c.Entrypoint, c.Cmd)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.title":       "sluice",
		"org.opencontainers.image.description": "Canary traffic shifting for Istio, driven by Envoy's own stats",
		"org.opencontainers.image.source":      "https://github.com/sluicedev/sluice",
		"org.opencontainers.image.version":     "v0.0.0-imagetest",
		"org.opencontainers.image.revision":    "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.created":     "2026-01-02T03:04:05Z",
	}
	if !maps.Equal(c.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", c.Labels, wantLabels)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || !cfg.Created.Equal(testSpec.Created) {
		t.Errorf("platform %s/%s created %s, want linux/amd64 created %s", cfg.OS, cfg.Architecture, cfg.Created, testSpec.Created)
	}
	if len(cfg.History) != 1 || !cfg.History[0].Created.Equal(testSpec.Created) {
		t.Errorf("history = %+v, want one entry created %s", cfg.History, testSpec.Created)
	}
}

// checkBinary runs the binary taken out of the image and checks that it is static and stripped.
func checkBinary(t *testing.T, bin []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("sluice --version: %v\n%s", err, got)
	}
	if want := "v0.0.0-imagetest (0123456789ab) go1."; !strings.HasPrefix(string(got), want) {
		t.Errorf("sluice --version printed %q, want it to start with %q", got, want)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP): not static")
		}
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: not stripped (-s)")
	}
}

// layoutImage opens the layout the way a consumer does: index.json, its one descriptor.
func layoutImage(t *testing.T, out Output) (v1.Image, error) {
	ii, err := layout.ImageIndexFromPath(out.Layout)
	if err != nil {
		return nil, err
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, errors.New("index.json does not name exactly one image")
	}
	d := im.Manifests[0]
	if d.Digest != out.Digest || d.MediaType != types.OCIManifestSchema1 || d.Platform == nil || d.Platform.String() != "linux/amd64" {
		t.Errorf("index.json names %s %s %v; want %s, an OCI manifest, linux/amd64", d.Digest, d.MediaType, d.Platform, out.Digest)
	}
	if got := d.Annotations["io.containerd.image.name"]; got != "ghcr.io/sluicedev/sluice:v0.0.0-imagetest" {
		t.Errorf("io.containerd.image.name = %q", got)
	}
	if got := d.Annotations["org.opencontainers.image.ref.name"]; got != "v0.0.0-imagetest" {
		t.Errorf("org.opencontainers.image.ref.name = %q", got)
	}
	return ii.Image(d.Digest)
}

// layerEntries lists the files of the image's one layer and returns the binary's bytes.
func layerEntries(t *testing.T, img v1.Image) ([]entry, []byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var (
		entries []entry
		bin     []byte
	)
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		e := entry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid,
			Uname: h.Uname, Gname: h.Gname, ModTime: h.ModTime.UTC()}
		if h.Name == "sluice" {
			bin, e.BinarySize = body, int64(len(body))
		} else {
			e.Body = string(body)
		}
		entries = append(entries, e)
	}
	return entries, bin
}

func fileSum(t *testing.T, path string) [sha256.Size]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestWriteIndex writes two platforms (stand-in binaries: only the layout is under test):
// the layout names an image index of both, the docker archive holds the first.
func TestWriteIndex(t *testing.T) {
	dir := t.TempDir()
	var imgs []v1.Image
	for _, p := range []v1.Platform{amd64, arm64} {
		bin := filepath.Join(dir, p.Architecture)
		if err := os.WriteFile(bin, []byte("binary for "+p.Architecture), 0o755); err != nil {
			t.Fatal(err)
		}
		img, err := Image(bin, p, testSpec)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	out, err := Write(filepath.Join(dir, "image"), testSpec, imgs)
	if err != nil {
		t.Fatal(err)
	}

	err = filepath.WalkDir(out.Layout, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if perm := info.Mode().Perm(); perm&0o022 != 0 || perm&0o444 != 0o444 {
			t.Errorf("%s: mode %v, want readable by all, writable by the owner only", path, perm)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	top, err := layout.ImageIndexFromPath(out.Layout)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].MediaType != types.OCIImageIndex || tm.Manifests[0].Digest != out.Digest {
		t.Fatalf("index.json = %+v, want one OCI image index %s", tm.Manifests, out.Digest)
	}
	ii, err := top.ImageIndex(out.Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range im.Manifests {
		img, err := ii.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Platform.String()+"="+cfg.Platform().String())
	}
	if want := []string{"linux/amd64=linux/amd64", "linux/arm64=linux/arm64"}; !reflect.DeepEqual(got, want) {
		t.Errorf("index platforms (descriptor=config) = %v, want %v", got, want)
	}

	img, err := tarball.ImageFromPath(out.Tarball, &out.Tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "amd64" {
		t.Errorf("docker archive holds %s, want the first platform, amd64", cfg.Platform())
	}
}

func TestSpecTag(t *testing.T) {
	tests := map[string]struct {
		version string
		want    string // "" means an error
	}{
		"release":      {version: "v0.1.0", want: "ghcr.io/sluicedev/sluice:v0.1.0"},
		"git describe": {version: "v0.1.0-3-gdef7e6f-dirty", want: "ghcr.io/sluicedev/sluice:v0.1.0-3-gdef7e6f-dirty"},
		"empty":        {version: ""},
		"space":        {version: "v0 1"},
		"slash":        {version: "feature/x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tag, err := Spec{Version: tc.version}.Tag()
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Tag() = %s, want an error", tag)
				}
				return
			}
			if err != nil || tag.String() != tc.want {
				t.Errorf("Tag() = %v, %v; want %s", tag, err, tc.want)
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	tests := map[string]struct {
		env     string
		want    time.Time
		wantErr bool
	}{
		"unset":    {env: "", want: time.Unix(0, 0).UTC()},
		"commit":   {env: "1767323045", want: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		"negative": {env: "-1", wantErr: true},
		"date":     {env: "2026-01-02", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := sourceDateEpoch(tc.env)
			if (err != nil) != tc.wantErr || !got.Equal(tc.want) {
				t.Errorf("sourceDateEpoch(%q) = %s, %v; want %s, error %v", tc.env, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func FuzzSourceDateEpoch(f *testing.F) {
	for _, s := range []string{"", "0", "1767323045", "-1", "+5", "1e9", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := sourceDateEpoch(s)
		if err != nil {
			return
		}
		if got.Unix() < 0 || got.Location() != time.UTC {
			t.Errorf("sourceDateEpoch(%q) = %s: before 1970 or not UTC", s, got)
		}
	})
}

// TestDockerfileMatches keeps the Dockerfile, for people with a Docker daemon, building
// what make image builds: the same flags, entrypoint, user and labels.
func TestDockerfileMatches(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	want := []string{
		"CGO_ENABLED=0", "-trimpath", "-buildvcs=false", "./cmd/sluice",
		`-ldflags "` + Ldflags("${VERSION}", "${REVISION}") + `"`,
		"COPY --from=build /out/sluice " + Entrypoint + "\n",
		"USER " + User + "\n",
		`ENTRYPOINT ["` + Entrypoint + `"]`,
	}
	for k, v := range (Spec{Version: "${VERSION}", Revision: "${REVISION}", Created: time.Unix(0, 0)}).Labels() {
		if k == "org.opencontainers.image.created" {
			v = "${CREATED}"
		}
		want = append(want, k+`="`+v+`"`)
	}
	for _, w := range want {
		if !strings.Contains(df, w) {
			t.Errorf("Dockerfile lacks %q", w)
		}
	}
	if !bytes.Contains(b, []byte("FROM gcr.io/distroless/static:nonroot")) {
		t.Error("Dockerfile does not run on distroless static:nonroot")
	}
}
