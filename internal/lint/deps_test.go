package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
)

// A pattern names project packages by their path relative to the module
// root: "raft/tracker" names that package only; "raft/..." names raft and
// every package below it. Third-party patterns use full import paths the
// same way: "google.golang.org/grpc/...".

// depRule says which project packages the packages matching pkg may import.
type depRule struct {
	pkg string
	may []string
}

var (
	// raftLower is what the core may import: the wire types and the small
	// pure subpackages below it.
	raftLower = []string{"raftpb", "raft/quorum", "raft/tracker", "raft/confchange"}

	// simMay is what the simulator may import: the production code it runs,
	// the in-memory transport (and the transport interfaces memtransport
	// implements) and the checkers.
	simMay = []string{
		"raft/...", "raftpb", "storage", "wal", "snap", "vfs", "node", "kv",
		"transport", "transport/memtransport", "internal/check",
	}

	// serverMay is what the ironkv server may import.
	serverMay = []string{
		"node", "kv", "storage", "transport", "transport/grpctransport", "raftpb", "raft",
	}
)

// dependencyRule is DESIGN.md's "Package map and dependency rule" as data:
// a package imports only what is to its right. The most specific rule for a
// package applies: an exact name before a "/..." pattern, and a longer
// pattern before a shorter one. A project package that matches no rule fails
// the test: add it here (and to DESIGN.md) when you create it.
var dependencyRule = []depRule{
	{pkg: "raftpb"},
	{pkg: "raft/quorum"},
	{pkg: "raft/tracker", may: []string{"raftpb", "raft/quorum"}},
	{pkg: "raft/confchange", may: []string{"raftpb", "raft/quorum", "raft/tracker"}},
	{pkg: "raft", may: raftLower},
	{pkg: "raft/...", may: raftLower},
	{pkg: "vfs"},
	{pkg: "wal", may: []string{"raftpb", "vfs"}},
	{pkg: "snap", may: []string{"raftpb", "vfs"}},
	{pkg: "storage", may: []string{"raft/...", "raftpb", "wal", "snap", "vfs"}},
	{pkg: "transport", may: []string{"raftpb"}},
	{pkg: "transport/...", may: []string{"raftpb", "transport"}},
	{pkg: "node", may: []string{"raft/...", "raftpb", "storage", "wal", "vfs", "transport"}},
	{pkg: "kv", may: []string{"raftpb"}},
	{pkg: "server", may: serverMay},
	{pkg: "sim", may: simMay},
	{pkg: "internal/check", may: []string{"raftpb", "raft/..."}},
	{pkg: "chaos", may: []string{"internal/check"}},
	// Process-level tests: they run the ironkv binary and talk to it as a
	// client would (never through server or node).
	{pkg: "e2e", may: []string{"internal/check"}},
	{pkg: "cmd/ironsim", may: append([]string{"sim"}, simMay...)},
	{pkg: "cmd/ironkv", may: append([]string{"server", "raft/...", "wal", "snap", "vfs"}, serverMay...)},
	{pkg: "internal/lint"},
	// Examples embed the library as a user would: the runtime and a
	// transport.
	{pkg: "examples/...", may: []string{"node", "transport", "transport/grpctransport", "transport/memtransport", "raftpb"}},
}

// coreForbiddenDeps: the packages in pkgs must not depend, even
// transitively, on anything in deps. The pure core stays embeddable without
// pulling in a network stack or a metrics library.
var coreForbiddenDeps = struct{ pkgs, deps []string }{
	pkgs: []string{"raftpb", "raft/..."},
	deps: []string{"google.golang.org/grpc/...", "github.com/prometheus/..."},
}

// thirdPartyOnlyIn: a direct import of a third-party package matching dep is
// allowed only in project packages matching one of pkgs.
var thirdPartyOnlyIn = []struct {
	dep  string
	pkgs []string
}{
	{dep: "google.golang.org/grpc/...", pkgs: []string{"transport/grpctransport", "server", "cmd/...", "chaos"}},
	{dep: "github.com/prometheus/...", pkgs: []string{"node", "server", "cmd/..."}},
}

// matchPattern reports whether path matches pattern (see above).
func matchPattern(pattern, path string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == pattern
}

// ruleFor returns the most specific rule for the project package rel.
func ruleFor(rules []depRule, rel string) (depRule, bool) {
	var best depRule
	found := false
	for _, r := range rules {
		if r.pkg == rel {
			return r, true
		}
		if strings.HasSuffix(r.pkg, "/...") && matchPattern(r.pkg, rel) &&
			(!found || len(r.pkg) > len(best.pkg)) {
			best, found = r, true
		}
	}
	return best, found
}

// pkgNode is one project package of the import graph, from its non-test
// files: test code may reach further without making a production dependency.
type pkgNode struct {
	rel     string   // path relative to the module root ("." for the root)
	imports []string // direct imports, full import paths
	deps    []string // transitive dependencies, full import paths
}

// depViolation is one broken dependency rule.
type depViolation struct {
	pkg  string // offending project package, relative
	kind string // "unlisted", "import", "core-dep" or "third-party"
	dep  string // the offending import or dependency, full path
}

func (v depViolation) String() string {
	const see = `; see DESIGN.md "Package map and dependency rule" and dependencyRule in internal/lint/deps_test.go`
	switch v.kind {
	case "unlisted":
		return fmt.Sprintf("package %s is not in the dependency table: add it to dependencyRule (and DESIGN.md) with what it may import%s", v.pkg, see)
	case "import":
		return fmt.Sprintf("%s imports %s, which the dependency rule does not allow%s", v.pkg, v.dep, see)
	case "core-dep":
		return fmt.Sprintf("%s depends (transitively) on %s: the core must not pull in gRPC or Prometheus%s", v.pkg, v.dep, see)
	default:
		return fmt.Sprintf("%s imports %s directly, which is allowed only in the packages listed in thirdPartyOnlyIn%s", v.pkg, v.dep, see)
	}
}

// checkDependencies checks the graph of the module modPath against rules and
// the third-party tables, and returns the violations in a stable order.
func checkDependencies(modPath string, rules []depRule, pkgs []pkgNode) []depViolation {
	rel := func(path string) (string, bool) {
		if path == modPath {
			return ".", true
		}
		r, ok := strings.CutPrefix(path, modPath+"/")
		return r, ok
	}
	var out []depViolation
	for _, p := range pkgs {
		if r, ok := ruleFor(rules, p.rel); !ok {
			out = append(out, depViolation{pkg: p.rel, kind: "unlisted"})
		} else {
			for _, imp := range p.imports {
				ir, ok := rel(imp)
				if ok && !slices.ContainsFunc(r.may, func(pat string) bool { return matchPattern(pat, ir) }) {
					out = append(out, depViolation{pkg: p.rel, kind: "import", dep: imp})
				}
			}
		}
		if matchesAny(coreForbiddenDeps.pkgs, p.rel) {
			for _, d := range p.deps {
				if matchesAny(coreForbiddenDeps.deps, d) {
					out = append(out, depViolation{pkg: p.rel, kind: "core-dep", dep: d})
				}
			}
		}
		for _, imp := range p.imports {
			for _, tp := range thirdPartyOnlyIn {
				if matchPattern(tp.dep, imp) && !matchesAny(tp.pkgs, p.rel) {
					out = append(out, depViolation{pkg: p.rel, kind: "third-party", dep: imp})
				}
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.pkg != b.pkg {
			return a.pkg < b.pkg
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.dep < b.dep
	})
	return out
}

func matchesAny(patterns []string, path string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matchPattern(p, path) })
}

// listedPackage is the part of `go list -json` output the check reads.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Imports    []string
	Deps       []string
	Error      *struct{ Err string }
}

// loadGraph lists the module's packages and their dependencies with
// `go list -e -deps -json ./...` and returns the project packages.
func loadGraph(t *testing.T, m module) []pkgNode {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = m.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -e -deps -json ./...: %v\n%s", err, stderr.String())
	}
	var pkgs []pkgNode
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var lp listedPackage
		if err := dec.Decode(&lp); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if lp.Standard {
			continue
		}
		var rel string
		switch {
		case lp.ImportPath == m.path:
			rel = "."
		case strings.HasPrefix(lp.ImportPath, m.path+"/"):
			rel = strings.TrimPrefix(lp.ImportPath, m.path+"/")
		default:
			continue // third-party
		}
		if slices.ContainsFunc(strings.Split(rel, "/"), skipDir) {
			continue
		}
		if lp.Error != nil {
			t.Errorf("go list: package %s: %s", rel, lp.Error.Err)
		}
		pkgs = append(pkgs, pkgNode{rel: rel, imports: lp.Imports, deps: lp.Deps})
	}
	return pkgs
}

// TestDependencyRule enforces DESIGN.md's dependency table on the real
// import graph of the module.
func TestDependencyRule(t *testing.T) {
	m := findModule(t)
	pkgs := loadGraph(t, m)
	if !slices.ContainsFunc(pkgs, func(p pkgNode) bool { return p.rel == "raftpb" }) {
		t.Fatalf("go list found no raftpb package among %d project packages; the check is not looking at this module", len(pkgs))
	}
	for _, v := range checkDependencies(m.path, dependencyRule, pkgs) {
		t.Error(v)
	}
}

// TestCheckDependenciesFindsViolations runs the checker on synthetic graphs,
// so that a checker that has stopped finding anything fails.
func TestCheckDependenciesFindsViolations(t *testing.T) {
	const mod = "example.com/m"
	p := func(rel string) string { return mod + "/" + rel }
	const grpc = "google.golang.org/grpc"
	const prom = "github.com/prometheus/client_golang/prometheus"
	tests := []struct {
		name string
		pkgs []pkgNode
		want []depViolation
	}{{
		name: "allowed graph",
		pkgs: []pkgNode{
			{rel: "raftpb", imports: []string{"google.golang.org/protobuf/proto"}},
			{rel: "raft/quorum", imports: []string{"slices"}},
			{rel: "raft/tracker", imports: []string{p("raft/quorum"), p("raftpb")}},
			{rel: "raft", imports: []string{p("raftpb"), p("raft/quorum"), p("raft/tracker"), p("raft/confchange")}},
			{rel: "raft/rafttest", imports: []string{p("raftpb")}},
			{rel: "storage", imports: []string{p("raft"), p("raft/tracker"), p("wal"), p("vfs")}},
			{rel: "transport/grpctransport", imports: []string{p("transport"), grpc}, deps: []string{grpc}},
			{rel: "node", imports: []string{p("raft"), p("storage"), prom}},
			{rel: "sim", imports: []string{p("raft"), p("transport/memtransport"), p("internal/check")}},
			{rel: "cmd/ironsim", imports: []string{p("sim"), p("raftpb")}},
			{rel: "cmd/ironkv", imports: []string{p("server"), p("wal"), grpc, prom}},
			{rel: "internal/lint"},
		},
	}, {
		name: "core imports upward",
		pkgs: []pkgNode{
			{rel: "raftpb", imports: []string{p("raft")}},
			{rel: "raft", imports: []string{p("storage"), p("raftpb")}},
			{rel: "raft/quorum", imports: []string{p("raftpb")}},
			{rel: "raft/tracker", imports: []string{p("raft")}},
		},
		want: []depViolation{
			{pkg: "raft", kind: "import", dep: p("storage")},
			{pkg: "raft/quorum", kind: "import", dep: p("raftpb")},
			{pkg: "raft/tracker", kind: "import", dep: p("raft")},
			{pkg: "raftpb", kind: "import", dep: p("raft")},
		},
	}, {
		name: "sideways and unlisted",
		pkgs: []pkgNode{
			{rel: "wal", imports: []string{p("snap")}},
			{rel: "sim", imports: []string{p("transport/grpctransport")}},
			{rel: "kv", imports: []string{p("node")}},
			{rel: "util"},
			{rel: "."},
		},
		want: []depViolation{
			{pkg: ".", kind: "unlisted"},
			{pkg: "kv", kind: "import", dep: p("node")},
			{pkg: "sim", kind: "import", dep: p("transport/grpctransport")},
			{pkg: "util", kind: "unlisted"},
			{pkg: "wal", kind: "import", dep: p("snap")},
		},
	}, {
		name: "core depends on grpc or prometheus transitively",
		pkgs: []pkgNode{
			{rel: "raft", deps: []string{"fmt", grpc + "/codes", "example.com/other"}},
			{rel: "raftpb", deps: []string{prom}},
			{rel: "storage", deps: []string{grpc}},
		},
		want: []depViolation{
			{pkg: "raft", kind: "core-dep", dep: grpc + "/codes"},
			{pkg: "raftpb", kind: "core-dep", dep: prom},
		},
	}, {
		name: "grpc and prometheus imported directly outside their packages",
		pkgs: []pkgNode{
			{rel: "transport/memtransport", imports: []string{grpc}},
			{rel: "kv", imports: []string{prom}},
			{rel: "server", imports: []string{grpc, prom}},
			{rel: "chaos", imports: []string{grpc, prom}},
		},
		want: []depViolation{
			{pkg: "chaos", kind: "third-party", dep: prom},
			{pkg: "kv", kind: "third-party", dep: prom},
			{pkg: "transport/memtransport", kind: "third-party", dep: grpc},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkDependencies(mod, dependencyRule, tt.pkgs)
			if !slices.Equal(got, tt.want) {
				t.Errorf("checkDependencies(%s) =\n%v\nwant\n%v", tt.name, got, tt.want)
			}
		})
	}
}

func TestRuleFor(t *testing.T) {
	tests := []struct {
		rel  string
		want string // rule pkg, "" for none
	}{
		{"raft", "raft"},
		{"raft/tracker", "raft/tracker"},
		{"raft/rafttest", "raft/..."},
		{"raft/internal/x", "raft/..."},
		{"transport", "transport"},
		{"transport/memtransport", "transport/..."},
		{"raftpb", "raftpb"},
		{"raftpbx", ""},
		{"cmd/other", ""},
		{"internal/check", "internal/check"},
	}
	for _, tt := range tests {
		r, ok := ruleFor(dependencyRule, tt.rel)
		got := ""
		if ok {
			got = r.pkg
		}
		if got != tt.want {
			t.Errorf("ruleFor(%q) = %q, want %q", tt.rel, got, tt.want)
		}
	}
}
