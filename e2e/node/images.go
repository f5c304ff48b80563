package node

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/sluicedev/sluice/e2e/cluster"
)

// Images no registry serves: both are built from this repository and imported into
// containerd.
const (
	// PauseImage is the pod sandbox image containerd's sandbox_image names.
	PauseImage = "sluice.test/pause:1"
	// SluiceVersion is the version (and tag) of the sluice image the tests build;
	// testdata/overlay rewrites the Deployment's image to it.
	SluiceVersion = "node-e2e"
	// SluiceImage is what hack/image tags that build.
	SluiceImage = "ghcr.io/sluicedev/sluice:" + SluiceVersion
)

// Image file names in the work directory.
const (
	pauseTarball  = "pause.tar"
	sluiceTarball = "image/sluice.tar"
)

// BuildImages writes the pause image and sluice's image (with hack/image, as
// `make image` does) as docker archives into dir.
func BuildImages(ctx context.Context, dir string) error {
	if err := buildPause(ctx, dir); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "run", "./hack/image", "-version", SluiceVersion,
		"-revision", "node-e2e", "-out", filepath.Join(dir, filepath.Dir(sluiceTarball)))
	cmd.Dir = cluster.RepoRoot()
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building sluice's image with hack/image: %w\n%s", err, out)
	}
	return nil
}

// SluiceImageID is the image ID (config digest) of the sluice image BuildImages wrote.
func SluiceImageID(dir string) (v1.Hash, error) {
	tag, err := name.NewTag(SluiceImage)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := tarball.ImageFromPath(filepath.Join(dir, sluiceTarball), &tag)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("reading the sluice image: %w", err)
	}
	return img.ConfigName()
}

// buildPause compiles ./pause statically and writes it as the image PauseImage.
func buildPause(ctx context.Context, dir string) error {
	bin := filepath.Join(dir, "pause")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./e2e/node/pause")
	cmd.Dir = cluster.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the pause binary: %w\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	layerTar, err := singleFileTar("pause", data)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("making the pause layer: %w", err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		OS: "linux", Architecture: goruntime.GOARCH,
		Config: v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return fmt.Errorf("configuring the pause image: %w", err)
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return fmt.Errorf("adding the pause layer: %w", err)
	}
	tag, err := name.NewTag(PauseImage)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(filepath.Join(dir, pauseTarball), tag, img); err != nil {
		return fmt.Errorf("writing the pause image: %w", err)
	}
	return nil
}

// singleFileTar is a tar holding one executable file at the root.
func singleFileTar(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// importImages loads both archives into containerd's k8s.io namespace, where the
// kubelet's CRI looks for images.
func importImages(ctx context.Context, sock, dir string) error {
	for _, f := range []string{pauseTarball, sluiceTarball} {
		cmd := exec.CommandContext(ctx, "ctr", "--address", sock, "-n", "k8s.io", "images", "import", filepath.Join(dir, f))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("ctr images import %s: %w\n%s", f, err, out)
		}
	}
	return nil
}
