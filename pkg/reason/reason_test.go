package reason

import (
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's table of reasons")

const (
	readme     = "../../README.md"
	tableBegin = "<!-- reasons:begin: generated from pkg/reason/reason.go by `go test ./pkg/reason -update`; do not edit -->"
	tableEnd   = "<!-- reasons:end -->"
)

// The README's table of reasons is exactly what reason.go declares.
func TestREADMETable(t *testing.T) {
	src, err := os.ReadFile("reason.go")
	if err != nil {
		t.Fatal(err)
	}
	table, err := Markdown(src)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, tableBegin), strings.Index(text, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q … %q", tableBegin, tableEnd)
	}
	want := text[:i] + tableBegin + "\n" + table + "\n" + text[j:]
	if want == text {
		return
	}
	if *update {
		if err := os.WriteFile(readme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("README.md's table of reasons is stale: run go test ./pkg/reason -update")
}

// Every reason is declared once: no two constants share a value.
func TestReasonsUnique(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			v, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
			if prev, dup := seen[v]; dup {
				t.Errorf("%s and %s both declare %q", prev, name.Name, v)
			}
			seen[v] = name.Name
		}
		return true
	})
	if len(seen) < 40 {
		t.Fatalf("found only %d reasons; the parser missed some", len(seen))
	}
}

func TestMarkdownRejects(t *testing.T) {
	tests := map[string]string{
		"no doc":           "package reason\n// Block.\nconst (\n\tA = \"A\"\n)\n",
		"doc without name": "package reason\n// Block.\nconst (\n\t// means something\n\tA = \"A\"\n)\n",
		"not a literal":    "package reason\n// Block.\nconst (\n\t// A: x.\n\tA = B\n)\n",
		"two per line":     "package reason\n// Block.\nconst (\n\t// A: x.\n\tA, B = \"A\", \"B\"\n)\n",
		"not go":           "package reason\nconst (",
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Markdown([]byte(src)); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
