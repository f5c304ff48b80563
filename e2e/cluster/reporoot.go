package cluster

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
)

// ModulePath is the module of the sluice checkout RepoRoot finds.
const ModulePath = "github.com/sluicedev/sluice"

// RepoRoot is the sluice checkout this process works in: the nearest directory at or
// above the working directory whose go.mod declares ModulePath (a test runs in its
// package's directory, `go run` in the caller's). Failing that, the checkout this package
// was compiled from, which only a build without -trimpath records: make test builds with
// -trimpath, so that its test builds and the image's share one build cache.
func RepoRoot() string {
	if wd, err := os.Getwd(); err == nil {
		if root, ok := moduleRootAbove(wd, ModulePath); ok {
			return root
		}
	}
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// moduleRootAbove is the nearest directory at or above dir holding a go.mod of module.
func moduleRootAbove(dir, module string) (string, bool) {
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && modulePath(b) == module {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// modulePath is the path a go.mod's module directive declares, "" when it has none.
func modulePath(gomod []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}
