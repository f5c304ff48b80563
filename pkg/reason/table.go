package reason

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
)

// Markdown renders the reasons declared in the Go source src (this package's reason.go)
// as one Markdown table per const block: the block's doc comment as its heading line,
// then each reason with the meaning from its doc comment ("Name: meaning").
func Markdown(src []byte) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", src, parser.ParseComments)
	if err != nil {
		return "", fmt.Errorf("parsing reasons: %w", err)
	}
	var b strings.Builder
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		heading := oneLine(gd.Doc.Text())
		if head, rest, ok := strings.Cut(heading, ": "); ok {
			heading = "**" + head + "**: " + rest
		}
		fmt.Fprintf(&b, "%s\n\n| reason | meaning |\n|---|---|\n", heading)
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if len(vs.Names) != 1 || len(vs.Values) != 1 {
				return "", fmt.Errorf("reason %v: declare one reason per line", vs.Names)
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return "", fmt.Errorf("reason %s: the value must be a string literal", vs.Names[0].Name)
			}
			value, _ := strconv.Unquote(lit.Value)
			doc := oneLine(vs.Doc.Text())
			meaning, found := strings.CutPrefix(doc, vs.Names[0].Name+": ")
			if !found || meaning == "" {
				return "", fmt.Errorf("reason %s: its doc comment must read %q", vs.Names[0].Name, vs.Names[0].Name+": what it means")
			}
			fmt.Fprintf(&b, "| `%s` | %s |\n", value, strings.ReplaceAll(meaning, "|", `\|`))
		}
		b.WriteString("\n")
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
