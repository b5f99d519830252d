package lint

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// module is the main module as the checks see it.
type module struct {
	dir  string // directory holding go.mod
	path string // module path, e.g. github.com/ironraft/ironraft
}

// findModule locates the main module with `go env GOMOD` and `go list -m`,
// so the tests work from any working directory.
func findModule(t *testing.T) module {
	t.Helper()
	gomod := strings.TrimSpace(goCmd(t, ".", "env", "GOMOD"))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q, want the path of the project's go.mod", gomod)
	}
	dir := filepath.Dir(gomod)
	path := strings.TrimSpace(goCmd(t, dir, "list", "-m"))
	return module{dir: dir, path: path}
}

// goCmd runs the go command in dir and returns its standard output.
func goCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// skipDir reports whether a directory is outside the project's own code:
// VCS and editor directories, vendor/ and testdata/ (Go ignores the last two
// in ./... as well).
func skipDir(name string) bool {
	return name == "vendor" || name == "testdata" ||
		strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

// goFiles returns the .go files below root, skipping the directories that
// skipDir names. With tests false, _test.go files are left out.
func goFiles(t *testing.T, root string, tests bool) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		if !tests && strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", root, err)
	}
	return files
}

// parseFile parses one file with comments. Object resolution stays on: the
// checks use it to tell a package name from a local variable of the same name.
func parseFile(t *testing.T, fset *token.FileSet, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		t.Errorf("parsing %s: %v", path, err)
		return nil
	}
	return f
}

// parseSnippet parses synthetic source for the checkers' own tests.
func parseSnippet(t *testing.T, fset *token.FileSet, src string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(fset, "snippet.go", src, parser.ParseComments)
	if err != nil {
		t.Fatalf("parsing snippet: %v\n%s", err, src)
	}
	return f
}

// finding is one rule broken at a line of a file.
type finding struct {
	line int
	msg  string
}

// importNames returns the names under which file f imports path: each
// import's alias, or defaultName (for math/rand/v2, "rand") without one. A
// file may import a package more than once under different names.
func importNames(f *ast.File, path, defaultName string) []string {
	var names []string
	for _, imp := range f.Imports {
		if strings.Trim(imp.Path.Value, "`\"") != path {
			continue
		}
		if imp.Name != nil {
			names = append(names, imp.Name.Name)
		} else {
			names = append(names, defaultName)
		}
	}
	return names
}

// refersToPackage reports whether id is one of the package names in names
// (see importNames) and not a local that shadows it. Blank and dot imports
// are never referred to by name.
func refersToPackage(id *ast.Ident, names []string) bool {
	for _, n := range names {
		if n != "_" && n != "." && isPackageRef(id, n) {
			return true
		}
	}
	return false
}

// isPackageRef reports whether id names the imported package pkgName rather
// than a local variable, parameter or field that shadows it. A package name
// is never resolved to a declaration by the parser; a local one is.
func isPackageRef(id *ast.Ident, pkgName string) bool {
	//lint:ignore SA1019 ast.Object is deprecated, but within one file it is
	// exactly what tells a shadowing local from the package name.
	return id.Name == pkgName && id.Obj == nil
}

// lines returns the line of each finding.
func lines(fs []finding) []int {
	var out []int
	for _, f := range fs {
		out = append(out, f.line)
	}
	return out
}
