// Command image builds sluice's controller image without a Docker daemon or a base
// image: a static cmd/sluice, /etc/passwd and /etc/group for user 65532, written as an
// OCI image layout and a docker archive whose digest depends only on the commit.
//
//	go run ./hack/image -version v0.1.0 -revision "$(git rev-parse HEAD)" -out bin/image
//
// `make image` runs it with the version, revision and commit time from git.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func main() {
	var s Spec
	out := flag.String("out", "bin/image", "directory to write oci/ and sluice.tar into")
	platforms := flag.String("platforms", "linux/amd64", "comma-separated platforms; the docker archive holds the first")
	flag.StringVar(&s.Version, "version", "", "version: pkg/version's, the image tag and label (required)")
	flag.StringVar(&s.Revision, "revision", "", "VCS commit: pkg/version's and the image label")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *platforms, s); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out, platforms string, s Spec) error {
	if s.Version == "" {
		return fmt.Errorf("-version is required")
	}
	epoch, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err != nil {
		return err
	}
	s.Created = epoch
	var imgs []v1.Image
	for _, ps := range strings.Split(platforms, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(ps))
		if err != nil {
			return fmt.Errorf("parsing platform %q: %w", ps, err)
		}
		bin := filepath.Join(out, "sluice-"+p.OS+"-"+p.Architecture)
		if err := BuildBinary(ctx, ".", bin, *p, s); err != nil {
			return err
		}
		img, err := Image(bin, *p, s)
		if err != nil {
			return fmt.Errorf("assembling the %s image: %w", p, err)
		}
		imgs = append(imgs, img)
	}
	o, err := Write(out, s, imgs)
	if err != nil {
		return err
	}
	fmt.Printf("%s\tOCI image layout (%s)\n%s\tdocker archive of %s (docker load, ctr images import)\nimage ID %s (config digest)\ndigest %s (manifest digest)\n",
		o.Layout, platforms, o.Tarball, o.Tag, o.ImageID, o.Digest)
	return nil
}

// sourceDateEpoch is the creation time of reproducible builds: $SOURCE_DATE_EPOCH
// (seconds since 1970), else 1970 itself.
func sourceDateEpoch(v string) (time.Time, error) {
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", v)
	}
	return time.Unix(sec, 0).UTC(), nil
}
