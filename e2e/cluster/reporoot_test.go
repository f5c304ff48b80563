package cluster

import (
	"os"
	"path/filepath"
	"testing"
)

func TestModuleRootAbove(t *testing.T) {
	root := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("repo/go.mod", "// sluice\nmodule github.com/sluicedev/sluice\n\ngo 1.26\n")
	write("repo/tools/go.mod", "module github.com/sluicedev/sluice/tools\n")
	write("repo/e2e/cluster/x.go", "package cluster\n")
	write("quoted/go.mod", "module \"github.com/sluicedev/sluice\"\n")
	write("other/go.mod", "module example.com/other\n")
	write("other/pkg/x.go", "package pkg\n")

	for _, tc := range []struct {
		from, want string
		ok         bool
	}{
		{"repo", "repo", true},
		{"repo/e2e/cluster", "repo", true},
		{"repo/tools", "repo", true}, // another module's go.mod on the way is passed over
		{"quoted", "quoted", true},
		{"other/pkg", "", false},
	} {
		got, ok := moduleRootAbove(filepath.Join(root, tc.from), ModulePath)
		want := ""
		if tc.ok {
			want = filepath.Join(root, tc.want)
		}
		if got != want || ok != tc.ok {
			t.Errorf("moduleRootAbove(%s) = %q, %v; want %q, %v", tc.from, got, ok, want, tc.ok)
		}
	}
}

// TestRepoRoot: from this package's directory (where go test runs it) RepoRoot is the
// checkout holding it, however the test binary was built.
func TestRepoRoot(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := RepoRoot(), filepath.Clean(filepath.Join(wd, "..", "..")); got != want {
		t.Fatalf("RepoRoot() = %s, want %s", got, want)
	}
}
