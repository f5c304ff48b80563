package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestCheckFile(t *testing.T) {
	const root = "/src/repo" // holds nothing on disk: checkFile only reads src
	goSrc := func(body string) string {
		return "package p\n\nimport \"path/filepath\"\n\nvar _ = filepath.Join\n\n" + body + "\n"
	}
	tests := map[string]struct {
		rel, src string
		want     []string // substrings of the findings, in order; nil: none
	}{
		"a fixture beside the checkout, as the tests once read it": {
			rel: "pkg/envoy/fixtures_test.go", src: goSrc(`const dir = "../../../elsewhere/fixtures/envoy"`),
			want: []string{`pkg/envoy/fixtures_test.go:7: "../../../elsewhere/fixtures/envoy" leads outside the repository (to /src/elsewhere/fixtures/envoy)`},
		},
		"the same fixture in the repository's testdata": {
			rel: "pkg/envoy/fixtures_test.go", src: goSrc(`const dir = "../../testdata/envoy"`),
		},
		"a Join of literals that climbs out": {
			rel: "e2e/shapes_test.go", src: goSrc(`var p = filepath.Join("..", "..", "elsewhere", "fixtures", "istio", name)`),
			want: []string{`e2e/shapes_test.go:7: "../../elsewhere/fixtures/istio" leads outside the repository (to /src/elsewhere/fixtures/istio)`},
		},
		"a Join of literals that stays in": {
			rel: "e2e/shapes_test.go", src: goSrc(`var p = filepath.Join("..", "testdata", "istio", name)`),
		},
		"a Join from a variable has an unknown base": {
			rel: "x.go", src: goSrc(`var p = filepath.Join(dir, "..", "..", "..")`),
		},
		"a glob out of the repository": {
			rel: "pkg/spec/fuzz_test.go", src: goSrc("var g = `../../../elsewhere/fixtures/istio/*.yaml`"),
			want: []string{`"../../../elsewhere/fixtures/istio/*.yaml" leads outside`},
		},
		"a path exactly at the root is inside": {
			rel: "pkg/x/x.go", src: goSrc(`var p = "../.."`),
		},
		"an absolute path to a sibling of the checkout": {
			rel: "pkg/x/x.go", src: goSrc(`var p = "/src/elsewhere/fixtures"`),
			want: []string{`"/src/elsewhere/fixtures" leads outside the repository (to /src/elsewhere/fixtures)`},
		},
		"an absolute path into the checkout itself": {
			rel: "pkg/x/x.go", src: goSrc(`var p = "/src/repo/testdata"`),
		},
		"absolute paths that are not about the checkout": {
			rel: "pkg/x/x.go", src: goSrc(`var a, b, c = "/usr/bin/env", "/stats/prometheus", "/tmp/sluice-heavy.lock"`),
		},
		"URLs and text with dots": {
			rel: "pkg/x/x.go", src: goSrc(`var a, b, c = "http://h/../../../x", "a..b", "go up with ../../.. twice"`),
		},
		"a script's own directory and its parent": {
			rel: "hack/x.sh", src: "#!/usr/bin/env bash\ncd \"$(dirname \"$0\")/..\"\nls ../e2e\n",
		},
		"a script reading beside the checkout": {
			rel: "hack/x.sh", src: "#!/usr/bin/env bash\n\ncat ../../elsewhere/fixtures/envoy/x.txt\n",
			want: []string{`hack/x.sh:3: "../../elsewhere/fixtures/envoy/x.txt" leads outside`},
		},
		"a Markdown link out of the repository": {
			rel: "bench/detect/README.md", src: "see [the plan](../../../PLAN.md) and [parse](../parse/README.md)\n",
			want: []string{`bench/detect/README.md:1: "../../../PLAN.md" leads outside`},
		},
		"a kustomization resource out of the repository": {
			rel: "manifests/kustomization.yaml", src: "resources:\n- ../crds\n- ../../other/crds\n",
			want: []string{`manifests/kustomization.yaml:3: "../../other/crds" leads outside`},
		},
		"a Makefile variable from a sibling directory": {
			rel: "Makefile", src: "FIX := ../elsewhere/fixtures\n",
			want: []string{`Makefile:1: "../elsewhere/fixtures" leads outside`},
		},
		"binary content is skipped": {
			rel: "bin/x", src: "\x00../../../elsewhere",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := checkFile(root, tc.rel, []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("findings %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("finding %q, want it to contain %q", got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCheckFileRejectsBrokenGo(t *testing.T) {
	if _, err := checkFile("/src/repo", "x.go", []byte("package p\nvar = \n")); err == nil {
		t.Fatal("a Go file that does not parse passed unchecked")
	}
}

func TestSkipped(t *testing.T) {
	tests := map[string]bool{
		"go.sum":                           true,
		"tools/go.sum":                     true,
		"testdata/envoy/SOURCES.md":        true,
		"e2e/meshlab/testdata/x.json":      true,
		"pkg/envoy/testdata/fuzz/FuzzX/ab": true,
		"go.mod":                           false,
		"pkg/envoy/fixtures_test.go":       false,
		"hack/testdata.sh":                 false,
	}
	for rel, want := range tests {
		t.Run(rel, func(t *testing.T) {
			if got := skipped(rel); got != want {
				t.Errorf("skipped(%q) = %v, want %v", rel, got, want)
			}
		})
	}
}

// TestRepository runs the check on this repository, so `go test ./...` fails on a path
// that leads outside it even where hack/check-selfcontained.sh is not run.
func TestRepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed to list the repository's files: %v", err)
	}
	findings, err := checkRepo("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Error(f)
	}
}
