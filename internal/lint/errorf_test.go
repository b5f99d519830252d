package lint

import (
	"fmt"
	"go/ast"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// noWrapMarker, in a comment on the line of an fmt.Errorf call, allows
// formatting an error without wrapping it. Say why next to it, e.g.
// "// lint:nowrap: the cause is an implementation detail callers must not match".
const noWrapMarker = "lint:nowrap"

// verbArg is one formatting verb and the index of the argument it prints
// (0 is the first argument after the format string).
type verbArg struct {
	verb rune
	arg  int
}

// parseVerbs returns the verbs of a fmt format string with their argument
// indexes, following fmt's rules for flags, explicit indexes ("%[2]v"),
// width and precision (including "*", which consumes an argument) and "%%".
func parseVerbs(format string) []verbArg {
	var out []verbArg
	arg := 0
	i := 0
	index := func() { // an explicit argument index: [n]
		if i < len(format) && format[i] == '[' {
			end := strings.IndexByte(format[i:], ']')
			if end < 0 {
				return
			}
			if n, err := strconv.Atoi(format[i+1 : i+end]); err == nil && n >= 1 {
				arg = n - 1
			}
			i += end + 1
		}
	}
	number := func() { // a width or precision: digits or '*'
		if i < len(format) && format[i] == '*' {
			arg++
			i++
			return
		}
		for i < len(format) && '0' <= format[i] && format[i] <= '9' {
			i++
		}
	}
	for i < len(format) {
		if format[i] != '%' {
			i++
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0 {
			i++
		}
		index()
		number()
		if i < len(format) && format[i] == '.' {
			i++
			index()
			number()
		}
		index()
		if i >= len(format) {
			break
		}
		verb, size := utf8.DecodeRuneInString(format[i:])
		i += size
		if verb == '%' {
			continue
		}
		out = append(out, verbArg{verb: verb, arg: arg})
		arg++
	}
	return out
}

// constString returns the value of a string literal or a sum of string
// literals.
func constString(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(e.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if e.Op != token.ADD {
			return "", false
		}
		x, okX := constString(e.X)
		y, okY := constString(e.Y)
		return x + y, okX && okY
	case *ast.ParenExpr:
		return constString(e.X)
	}
	return "", false
}

// errorName returns how e names an error, if it plainly does: an identifier
// err or ending in Err (readErr), a field .Err, or a method call .Err()
// (ctx.Err()). Anything else is not judged, to keep false positives out.
func errorName(e ast.Expr) (string, bool) {
	switch e := e.(type) {
	case *ast.Ident:
		if e.Name == "err" || strings.HasSuffix(e.Name, "Err") {
			return e.Name, true
		}
	case *ast.SelectorExpr:
		if e.Sel.Name == "Err" {
			return "." + e.Sel.Name, true
		}
	case *ast.CallExpr:
		if sel, ok := e.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Err" && len(e.Args) == 0 {
			return ".Err()", true
		}
	}
	return "", false
}

// checkErrorf returns the fmt.Errorf calls in f that print an error with %v
// or %s instead of wrapping it with %w (STYLE.md rule 11).
func checkErrorf(fset *token.FileSet, f *ast.File) []finding {
	fmtNames := importNames(f, "fmt", "fmt")
	if len(fmtNames) == 0 {
		return nil
	}
	allowed := map[int]bool{}
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if strings.Contains(c.Text, noWrapMarker) {
				allowed[fset.Position(c.Pos()).Line] = true
			}
		}
	}
	var out []finding
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Errorf" {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); !ok || !refersToPackage(id, fmtNames) {
			return true
		}
		format, ok := constString(call.Args[0])
		if !ok {
			return true
		}
		line := fset.Position(call.Pos()).Line
		if allowed[line] {
			return true
		}
		args := call.Args[1:]
		for _, va := range parseVerbs(format) {
			if (va.verb != 'v' && va.verb != 's') || va.arg >= len(args) {
				continue
			}
			if name, ok := errorName(args[va.arg]); ok {
				out = append(out, finding{line: line, msg: fmt.Sprintf(
					"fmt.Errorf prints the error %s with %%%c; wrap it with %%w so callers can match it (or mark the line %q and say why)",
					name, va.verb, noWrapMarker)})
			}
		}
		return true
	})
	return out
}

// TestErrorfWraps checks every hand-written .go file of the module,
// tests included.
func TestErrorfWraps(t *testing.T) {
	m := findModule(t)
	fset := token.NewFileSet()
	for _, path := range goFiles(t, m.dir, true) {
		f := parseFile(t, fset, path)
		if f == nil || ast.IsGenerated(f) {
			continue
		}
		rel, _ := filepath.Rel(m.dir, path)
		for _, v := range checkErrorf(fset, f) {
			t.Errorf("%s:%d: %s", rel, v.line, v.msg)
		}
	}
}

// TestCheckErrorfFindsViolations runs the checker on a synthetic file, so
// that a checker that has stopped finding anything fails.
func TestCheckErrorfFindsViolations(t *testing.T) {
	const src = `package p

import (
	"context"
	"errors"
	"fmt"
	f2 "fmt"
)

type result struct{ Err error }

func g(ctx context.Context, err, readErr error, res result, n int) []error {
	return []error{
		fmt.Errorf("wal: %v", err),             // 14: %v of err
		fmt.Errorf("wal: %s", readErr),         // 15: %s of ...Err
		fmt.Errorf("wal: %d: %+v", n, res.Err), // 16: %+v of .Err
		fmt.Errorf("wal: %v", ctx.Err()),       // 17: %v of .Err()
		fmt.Errorf("wal: %[2]v %[1]d", n, err), // 18: explicit index
		fmt.Errorf("wal: %*d %v", 3, n, err),   // 19: * consumes an argument
		fmt.Errorf("wal: "+"%d %v", n, err),    // 20: concatenated format
		f2.Errorf("wal: %v", err),              // 21: fmt under another name
		fmt.Errorf("wal: %w", err),             // fine: wraps
		fmt.Errorf("wal: %v", err.Error()),     // fine: a string, on purpose
		fmt.Errorf("wal: %v %w", n, err),       // fine
		fmt.Errorf("wal: %d%% %v", n, errors.ErrUnsupported), // fine: not named like an error variable
		fmt.Errorf("wal: %v", err),             // lint:nowrap: test of the marker
		fmt.Errorf("wal: %d", err),             // fine for this rule (vet reports it)
	}
}

func h(err error) error {
	var fmt struct{ Errorf func(string, ...any) error }
	return fmt.Errorf("wal: %v", err) // fine: not package fmt
}
`
	fset := token.NewFileSet()
	got := checkErrorf(fset, parseSnippet(t, fset, src))
	want := []int{14, 15, 16, 17, 18, 19, 20, 21}
	if !slices.Equal(lines(got), want) {
		t.Errorf("checkErrorf lines = %v, want %v\nfindings: %v", lines(got), want, got)
	}
}

func TestParseVerbs(t *testing.T) {
	tests := []struct {
		format string
		want   []verbArg
	}{
		{"", nil},
		{"plain", nil},
		{"%v", []verbArg{{'v', 0}}},
		{"%d%%%s", []verbArg{{'d', 0}, {'s', 1}}},
		{"%-8.3f %#v", []verbArg{{'f', 0}, {'v', 1}}},
		{"%*d %.*s %v", []verbArg{{'d', 1}, {'s', 3}, {'v', 4}}},
		{"%[2]s %[1]v %v", []verbArg{{'s', 1}, {'v', 0}, {'v', 1}}},
		{"%", nil},
	}
	for _, tt := range tests {
		if got := parseVerbs(tt.format); !slices.Equal(got, tt.want) {
			t.Errorf("parseVerbs(%q) = %v, want %v", tt.format, got, tt.want)
		}
	}
}
