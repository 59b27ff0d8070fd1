package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// signpostMain is the server this build must mirror.
const signpostMain = "../../../cmd/signpost/main.go"

// TestSameAsSignpost keeps this build in step with cmd/signpost: the same
// imports and directives, with signpost replaced by file and fixed.
func TestSameAsSignpost(t *testing.T) {
	ref, sp := parseMain(t, "main.go"), parseMain(t, signpostMain)

	wantImports := slices.DeleteFunc(importsOf(sp), func(p string) bool {
		return p == "github.com/signpost-dns/signpost/plugin/signpost"
	})
	wantImports = append(wantImports,
		"github.com/coredns/coredns/plugin/file",
		"github.com/signpost-dns/signpost/bench/fixed")
	slices.Sort(wantImports)
	if got := importsOf(ref); !slices.Equal(got, wantImports) {
		t.Errorf("imports\n got %q\nwant %q", got, wantImports)
	}

	var wantDirs []string
	for _, d := range directivesOf(t, sp) {
		if d == "signpost" {
			wantDirs = append(wantDirs, "file", "fixed")
			continue
		}
		wantDirs = append(wantDirs, d)
	}
	if got := directivesOf(t, ref); !slices.Equal(got, wantDirs) {
		t.Errorf("directives\n got %q\nwant %q", got, wantDirs)
	}
}

func parseMain(t *testing.T, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// importsOf returns the sorted import paths of f.
func importsOf(f *ast.File) []string {
	var paths []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// directivesOf returns the strings of the package-level `directives` slice.
func directivesOf(t *testing.T, f *ast.File) []string {
	t.Helper()
	var dirs []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "directives" {
			return true
		}
		for _, elt := range vs.Values[0].(*ast.CompositeLit).Elts {
			s, _ := strconv.Unquote(elt.(*ast.BasicLit).Value)
			dirs = append(dirs, s)
		}
		return false
	})
	if len(dirs) == 0 {
		t.Fatal("no directives found")
	}
	return dirs
}
