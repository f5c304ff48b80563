package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What every sluice image is; the Dockerfile at the repository root says the same
// (TestDockerfileMatches keeps the two in step).
const (
	Repository = "ghcr.io/sluicedev/sluice"
	Source     = "https://github.com/sluicedev/sluice"
	Entrypoint = "/sluice"
	User       = "65532:65532"
	versionPkg = "github.com/sluicedev/sluice/pkg/version"
)

// The only files besides the binary: enough for tools that resolve user 65532 by name.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/:/sbin/nologin\n"
	group  = "root:x:0:\nnonroot:x:65532:\n"
)

// Spec is what identifies one build; the same Spec and the same binaries give the same digest.
type Spec struct {
	Version  string // release, e.g. v0.1.0; also the image tag
	Revision string // VCS commit
	// Created stamps the config and every layer entry: the commit time
	// (SOURCE_DATE_EPOCH), never the wall clock, so the digest is reproducible.
	Created time.Time
}

// Tag is the reference the docker archive carries, Repository:Version.
func (s Spec) Tag() (name.Tag, error) {
	t, err := name.NewTag(Repository+":"+s.Version, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image tag from version %q: %w", s.Version, err)
	}
	return t, nil
}

// Labels are the image config's OCI labels.
func (s Spec) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "sluice",
		"org.opencontainers.image.description": "Canary traffic shifting for Istio, driven by Envoy's own stats",
		"org.opencontainers.image.source":      Source,
		"org.opencontainers.image.version":     s.Version,
		"org.opencontainers.image.revision":    s.Revision,
		"org.opencontainers.image.created":     s.Created.UTC().Format(time.RFC3339),
	}
}

// Ldflags are the linker flags of a release binary: stripped, with the build identity
// pkg/version reports.
func Ldflags(version, revision string) string {
	return fmt.Sprintf("-s -w -X %s.version=%s -X %s.revision=%s", versionPkg, version, versionPkg, revision)
}

// BuildBinary compiles cmd/sluice of the module in moduleDir for p into out: static
// (CGO_ENABLED=0), with paths trimmed and no VCS stamp, so it depends only on the source.
func BuildBinary(ctx context.Context, moduleDir, out string, p v1.Platform, s Spec) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", Ldflags(s.Version, s.Revision), "-o", out, "./cmd/sluice")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS, "GOARCH="+p.Architecture)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building cmd/sluice for %s: %w\n%s", p, err, b)
	}
	return nil
}

// Image assembles the image of one platform from the binary at path: one layer holding
// the binary as Entrypoint, /etc/passwd and /etc/group, run as User.
func Image(binaryPath string, p v1.Platform, s Spec) (v1.Image, error) {
	bin, err := os.ReadFile(binaryPath)
	if err != nil {
		return nil, fmt.Errorf("reading the binary: %w", err)
	}
	layerTar, err := rootfs(bin, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("making the layer: %w", err)
	}
	created := v1.Time{Time: s.Created.UTC()}
	cfg := &v1.ConfigFile{
		Created:      created,
		OS:           p.OS,
		Architecture: p.Architecture,
		Variant:      p.Variant,
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{Entrypoint},
			WorkingDir: "/",
			Labels:     s.Labels(),
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting the image config: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created:   created,
		CreatedBy: "hack/image: " + Entrypoint + ", /etc/passwd, /etc/group",
		Comment:   "sluice " + s.Version,
	}})
	if err != nil {
		return nil, fmt.Errorf("adding the layer: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON), nil
}

// rootfs is the layer's tar: entries in a fixed order, owned by root, stamped with
// created, with no host user, group or time in them.
func rootfs(bin []byte, created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := created.UTC().Truncate(time.Second)
	entries := []struct {
		name string
		mode int64
		body []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/group", 0o644, []byte(group)},
		{"etc/passwd", 0o644, []byte(passwd)},
		{Entrypoint[1:], 0o755, bin},
	}
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), ModTime: mtime,
			Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("writing the tar header of %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("writing %s into the layer: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing the layer tar: %w", err)
	}
	return buf.Bytes(), nil
}

// Output names what Write produced.
type Output struct {
	Layout  string   // OCI image layout directory: all platforms
	Tarball string   // docker archive (docker load, ctr images import) of the first platform
	Tag     name.Tag // the tag both carry
	// Digest is the digest of record: the image manifest's for one platform, the image
	// index's for several; the layout's index.json points at it.
	Digest v1.Hash
	// ImageID is the config digest of the tarball's image: the ID docker load and
	// containerd give it (containerd writes a manifest of its own for a docker archive,
	// so only this one matches there).
	ImageID v1.Hash
}

// Write writes imgs (one per platform, in the order given) under dir as oci/ (an OCI
// image layout) and sluice.tar (a docker archive of imgs[0]), replacing earlier ones.
func Write(dir string, s Spec, imgs []v1.Image) (Output, error) {
	if len(imgs) == 0 {
		return Output{}, fmt.Errorf("writing the image: no platform built")
	}
	tag, err := s.Tag()
	if err != nil {
		return Output{}, err
	}
	out := Output{Layout: filepath.Join(dir, "oci"), Tarball: filepath.Join(dir, "sluice.tar"), Tag: tag}
	if err := os.RemoveAll(out.Layout); err != nil {
		return Output{}, fmt.Errorf("removing the old layout: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Output{}, fmt.Errorf("creating %s: %w", dir, err)
	}

	// The artifact the layout names: the image itself, or an index of the platforms.
	var top mutate.Appendable = imgs[0]
	desc := v1.Descriptor{Annotations: map[string]string{
		"org.opencontainers.image.ref.name": s.Version, // the OCI convention: the tag
		"io.containerd.image.name":          tag.String(),
	}}
	if len(imgs) == 1 {
		if desc.Platform, err = platform(imgs[0]); err != nil {
			return Output{}, err
		}
	} else {
		var adds []mutate.IndexAddendum
		for _, img := range imgs {
			p, err := platform(img)
			if err != nil {
				return Output{}, err
			}
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
		}
		top = mutate.AppendManifests(empty.Index, adds...)
	}
	if out.Digest, err = top.Digest(); err != nil {
		return Output{}, fmt.Errorf("computing the digest: %w", err)
	}
	ii := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: top, Descriptor: desc})
	if _, err := layout.Write(out.Layout, ii); err != nil {
		return Output{}, fmt.Errorf("writing the OCI layout %s: %w", out.Layout, err)
	}
	if err := readOnlyForOthers(out.Layout); err != nil {
		return Output{}, err
	}

	if err := tarball.WriteToFile(out.Tarball, tag, imgs[0]); err != nil {
		return Output{}, fmt.Errorf("writing the docker archive %s: %w", out.Tarball, err)
	}
	if out.ImageID, err = imgs[0].ConfigName(); err != nil {
		return Output{}, fmt.Errorf("computing the image ID: %w", err)
	}
	return out, nil
}

// readOnlyForOthers makes the layout's files 0644 and directories 0755: the layout
// writer leaves index.json writable by all and blobs readable by the owner only.
func readOnlyForOthers(dir string) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(path, mode)
	})
	if err != nil {
		return fmt.Errorf("setting the modes of the layout's files: %w", err)
	}
	return nil
}

func platform(img v1.Image) (*v1.Platform, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	return cfg.Platform(), nil
}
