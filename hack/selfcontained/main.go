// Command selfcontained fails when a file of the repository names a path outside the
// repository, so that a clone with nothing beside it builds and passes its tests.
//
// It reads every file git tracks or would track (git ls-files -co --exclude-standard),
// except go.sum and the contents of testdata/ directories, and reports:
//   - in Go files, a string literal holding a relative path with a ".." segment, and a
//     filepath.Join or path.Join whose leading arguments are string literals, that
//     resolves outside the repository from the file's directory (where `go test` runs a
//     package's tests), e.g. "../../../elsewhere/fixtures" or filepath.Join("..", "..", "elsewhere");
//   - in other text files (scripts, Makefile, YAML, Markdown), a word starting with ".."
//     that resolves outside the repository from the file's directory;
//   - anywhere, an absolute path into the directory that holds the checkout (a sibling of
//     the repository, such as /work/elsewhere when the checkout is /work/main), unless that
//     directory is the file-system root.
//
// Usage: go run ./hack/selfcontained [repository root, default: the current directory]
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	findings, err := checkRepo(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "selfcontained:", err)
		os.Exit(2)
	}
	for _, f := range findings {
		fmt.Println(f)
	}
	if len(findings) > 0 {
		fmt.Fprintf(os.Stderr, "selfcontained: %d path(s) outside the repository; move what they read into testdata/ (with its provenance)\n", len(findings))
		os.Exit(1)
	}
}

// checkRepo checks every file git lists in the repository at root.
func checkRepo(root string) ([]string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving the repository root: %w", err)
	}
	cmd := exec.Command("git", "ls-files", "-z", "-co", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the repository's files with git: %w", err)
	}
	var findings []string
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if skipped(rel) {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, rel))
		if os.IsNotExist(err) {
			continue // deleted in the work tree, still in the index
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", rel, err)
		}
		f, err := checkFile(root, rel, src)
		if err != nil {
			return nil, err
		}
		findings = append(findings, f...)
	}
	return findings, nil
}

// skipped reports files that are data rather than code: captured fixtures and checksums.
func skipped(rel string) bool {
	return rel == "" || filepath.Base(rel) == "go.sum" || slices.Contains(strings.Split(filepath.ToSlash(rel), "/"), "testdata")
}

// checkFile returns one "file:line: …" finding per path in src that leaves the
// repository at root; rel is the file's path relative to root.
func checkFile(root, rel string, src []byte) ([]string, error) {
	if bytes.IndexByte(src, 0) >= 0 {
		return nil, nil // binary
	}
	c := checker{root: root, holder: filepath.Dir(root), dir: filepath.Dir(filepath.Join(root, rel)), rel: rel}
	if strings.HasSuffix(rel, ".go") {
		if err := c.goFile(src); err != nil {
			return nil, err
		}
	} else {
		c.textFile(src)
	}
	return c.findings, nil
}

type checker struct {
	root     string // the repository, absolute
	holder   string // the directory that holds the checkout
	dir      string // the checked file's directory, absolute
	rel      string // the checked file, relative to root
	findings []string
}

// goFile checks the string literals of a Go file.
func (c *checker) goFile(src []byte) error {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, c.rel, src, parser.SkipObjectResolution)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", c.rel, err)
	}
	joined := map[*ast.BasicLit]bool{} // literals judged as part of a Join
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isJoin(call.Fun) {
			return true
		}
		var parts []string
		for _, arg := range call.Args {
			lit, ok := stringLit(arg)
			if !ok {
				break
			}
			parts = append(parts, lit)
		}
		for _, arg := range call.Args {
			if lit, ok := arg.(*ast.BasicLit); ok {
				joined[lit] = true
			}
		}
		// A Join that starts with a variable has an unknown base: only a leading run of
		// literals is a path relative to the package directory.
		if len(parts) > 0 {
			c.check(fset.Position(call.Pos()).Line, filepath.Join(parts...))
		}
		return true
	})
	ast.Inspect(file, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || joined[lit] {
			return true
		}
		if s, ok := stringLit(lit); ok {
			c.check(fset.Position(lit.Pos()).Line, s)
		}
		return true
	})
	return nil
}

// isJoin reports filepath.Join and path.Join.
func isJoin(fun ast.Expr) bool {
	sel, ok := fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Join" {
		return false
	}
	pkg, ok := sel.X.(*ast.Ident)
	return ok && (pkg.Name == "filepath" || pkg.Name == "path")
}

// stringLit returns the value of a string literal.
func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// word is one whitespace-, quote- or shell-punctuation-delimited word of a text file.
var word = regexp.MustCompile("[^\\s\"'`()\\[\\]{}<>=;|&,:]+")

// textFile checks the words of a non-Go file that start with "..".
func (c *checker) textFile(src []byte) {
	for i, line := range strings.Split(string(src), "\n") {
		for _, w := range word.FindAllString(line, -1) {
			if w == ".." || strings.HasPrefix(w, "../") || filepath.IsAbs(w) {
				c.check(i+1, w)
			}
		}
	}
}

// check records p when it names a place outside the repository.
func (c *checker) check(line int, p string) {
	if p == "" || strings.ContainsAny(p, " \t\n") || strings.Contains(p, "://") {
		return
	}
	var resolved string
	switch {
	case filepath.IsAbs(p):
		// Only a path into the checkout's own surroundings is certainly wrong: /usr/bin/env,
		// /tmp or an HTTP path such as /stats/prometheus are not about the repository.
		if c.holder == filepath.Dir(c.holder) || !within(c.holder, p) {
			return
		}
		resolved = filepath.Clean(p)
	case slices.Contains(strings.Split(filepath.ToSlash(p), "/"), ".."):
		resolved = filepath.Join(c.dir, p)
	default:
		return
	}
	if within(c.root, resolved) {
		return
	}
	c.findings = append(c.findings, fmt.Sprintf("%s:%d: %q leads outside the repository (to %s)", c.rel, line, p, resolved))
}

// within reports whether p is dir or below it.
func within(dir, p string) bool {
	r, err := filepath.Rel(dir, filepath.Clean(p))
	return err == nil && r != ".." && !strings.HasPrefix(r, "../")
}
