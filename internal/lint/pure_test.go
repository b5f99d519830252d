package lint

import (
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// bannedCoreImports are the standard packages the core must not import, and
// why. Subpackages of os, net and sync (os/exec, net/http, sync/atomic) are
// banned with their parent.
var bannedCoreImports = map[string]string{
	"time":      "wall-clock time; the core counts ticks",
	"os":        "the operating system; the core does no I/O",
	"net":       "the network; messages leave through Ready",
	"sync":      "locks; the core is driven by one caller at a time",
	"context":   "contexts; the core never blocks",
	"math/rand": "global randomness; take the seeded source from Config",
}

// bannedCoreImportReason returns why path is banned in the core, or "".
func bannedCoreImportReason(path string) string {
	if why, ok := bannedCoreImports[path]; ok {
		return why
	}
	for _, parent := range []string{"os", "net", "sync"} {
		if strings.HasPrefix(path, parent+"/") {
			return bannedCoreImports[parent]
		}
	}
	return ""
}

// randGlobalFuncs are the top-level functions of math/rand/v2, which draw
// from the process-wide, randomly seeded generator. Constructors (New,
// NewPCG, NewChaCha8, NewZipf) and types (Rand, Source) are allowed: they are
// how a seeded source is built and passed in.
var randGlobalFuncs = []string{
	"ExpFloat64", "Float32", "Float64", "Int", "Int32", "Int32N", "Int64",
	"Int64N", "IntN", "N", "NormFloat64", "Perm", "Shuffle", "Uint", "Uint32",
	"Uint32N", "Uint64", "Uint64N", "UintN",
}

// checkPure returns the places where the core file f breaks STYLE.md rules
// 1 and 2: no goroutines, no banned imports, no global randomness.
func checkPure(fset *token.FileSet, f *ast.File) []finding {
	var out []finding
	add := func(pos token.Pos, format string, args ...any) {
		out = append(out, finding{line: fset.Position(pos).Line, msg: fmt.Sprintf(format, args...)})
	}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue // the parser already rejected it
		}
		if why := bannedCoreImportReason(path); why != "" {
			add(imp.Pos(), "imports %q: %s", path, why)
		}
		if path == "math/rand/v2" && imp.Name != nil && imp.Name.Name == "." {
			add(imp.Pos(), `dot-imports "math/rand/v2", which hides calls to its global generator`)
		}
	}
	randNames := importNames(f, "math/rand/v2", "rand")
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			add(n.Pos(), "go statement: the core starts no goroutines; its caller drives it")
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if ok && refersToPackage(id, randNames) &&
				slices.Contains(randGlobalFuncs, n.Sel.Name) {
				add(n.Pos(), "%s.%s uses math/rand/v2's global generator; draw from the seeded source in Config", id.Name, n.Sel.Name)
			}
		}
		return true
	})
	return out
}

// TestCoreIsPure checks every non-test file under raft/.
func TestCoreIsPure(t *testing.T) {
	m := findModule(t)
	root := filepath.Join(m.dir, "raft")
	if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no raft/ directory at %s: the core must exist for this check to mean anything", root)
	}
	files := goFiles(t, root, false)
	fset := token.NewFileSet()
	for _, path := range files {
		f := parseFile(t, fset, path)
		if f == nil {
			continue
		}
		rel, _ := filepath.Rel(m.dir, path)
		for _, v := range checkPure(fset, f) {
			t.Errorf("%s:%d: %s (STYLE.md rules 1-2; DESIGN.md: the core is pure)", rel, v.line, v.msg)
		}
	}
}

// TestCheckPureFindsViolations runs the checker on synthetic files, so that a
// checker that has stopped finding anything fails.
func TestCheckPureFindsViolations(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []int // lines with a finding
	}{{
		name: "clean",
		src: `package raft

import (
	"errors"
	"math/rand/v2"

	"example.com/m/raftpb"
)

type Config struct{ Rand *rand.Rand; Src rand.Source }

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func (c *Config) pick(n int) int {
	var _ raftpb.Entry
	_ = errors.New("x")
	return c.Rand.IntN(n)
}
`,
	}, {
		name: "goroutine",
		src: `package raft

func f() {
	go func() {}()
}
`,
		want: []int{4},
	}, {
		name: "banned imports",
		src: `package raft

import (
	"context"
	"math/rand"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)
`,
		want: []int{4, 5, 6, 7, 8, 9, 10, 11},
	}, {
		name: "global rand/v2",
		src: `package raft

import "math/rand/v2"

func f() int {
	g := rand.Shuffle
	_ = g
	return rand.IntN(3) + int(rand.Uint64())
}
`,
		want: []int{6, 8, 8},
	}, {
		name: "aliased rand/v2",
		src: `package raft

import r "math/rand/v2"

func f() uint64 { return r.Uint64() + r.New(r.NewPCG(1, 2)).Uint64() }
`,
		want: []int{5},
	}, {
		name: "dot-imported rand/v2",
		src: `package raft

import . "math/rand/v2"

func f() int { return IntN(3) }
`,
		want: []int{3},
	}, {
		name: "local named rand shadows the package",
		src: `package raft

import "math/rand/v2"

func f(rand *rand.Rand) int { return rand.IntN(3) }

func g(src rand.Source) int {
	rand := rand.New(src)
	return rand.IntN(3)
}
`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fset := token.NewFileSet()
			got := checkPure(fset, parseSnippet(t, fset, tt.src))
			if !slices.Equal(lines(got), tt.want) {
				t.Errorf("checkPure(%s) lines = %v, want %v\nfindings: %v", tt.name, lines(got), tt.want, got)
			}
		})
	}
}
