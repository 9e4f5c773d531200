package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// docFiles are the files whose struct fields are the configuration users write: every field
// needs a doc comment saying what it does.
var docFiles = []string{"types.go", "reserved.go"}

// TestStructFieldsHaveDocComments fails for every field (named or embedded) of a struct type
// declared in docFiles without a doc comment: a // comment group directly above the field.
// A trailing line comment does not count.
func TestStructFieldsHaveDocComments(t *testing.T) {
	fset := token.NewFileSet()
	fields := 0
	for _, file := range docFiles {
		f, err := parser.ParseFile(fset, file, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parsing %s: %v", file, err)
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.TYPE {
				continue
			}
			for _, spec := range gen.Specs {
				ts := spec.(*ast.TypeSpec)
				// Nested struct types (a field of type struct{...}) count under the declared type.
				ast.Inspect(ts.Type, func(n ast.Node) bool {
					st, ok := n.(*ast.StructType)
					if !ok {
						return true
					}
					for _, field := range st.Fields.List {
						names := fieldNames(field)
						fields += len(names)
						if field.Doc != nil && strings.TrimSpace(field.Doc.Text()) != "" {
							continue
						}
						for _, name := range names {
							t.Errorf("%s:%d: %s.%s has no doc comment: add a // comment directly above it saying what the setting does",
								file, fset.Position(field.Pos()).Line, ts.Name.Name, name)
						}
					}
					return true
				})
			}
		}
	}
	if fields == 0 {
		t.Fatalf("found no struct fields in %v: the test is not looking at the config types", docFiles)
	}
}

// fieldNames are a field's names, or for an embedded field the name of its type.
func fieldNames(field *ast.Field) []string {
	if len(field.Names) == 0 {
		return []string{embeddedName(field.Type)}
	}
	var out []string
	for _, n := range field.Names {
		out = append(out, n.Name)
	}
	return out
}

func embeddedName(expr ast.Expr) string {
	switch e := expr.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.Sel.Name
	case *ast.StarExpr:
		return embeddedName(e.X)
	case *ast.IndexExpr:
		return embeddedName(e.X)
	case *ast.IndexListExpr:
		return embeddedName(e.X)
	}
	return "?"
}
