// Package lint holds no code: its tests enforce the rules of DESIGN.md and
// STYLE.md that a machine can check, so that breaking one fails `go test`.
//
//   - TestDependencyRule: each project package imports only the project
//     packages the dependency table of DESIGN.md allows, the pure core never
//     depends on gRPC or Prometheus, and those two are imported directly only
//     where the design puts them.
//   - TestCoreIsPure: no goroutines and no wall clock, OS, network, locks,
//     contexts or global randomness in the non-test files under raft/.
//   - TestErrorfWraps: fmt.Errorf never formats an error with %v or %s where
//     it should wrap it with %w.
//
// Each checker is a plain function over parsed source or an import graph, and
// is also run on small synthetic inputs that must fail, so a checker that has
// stopped finding anything is noticed.
//
// A package that the dependency table does not know fails TestDependencyRule:
// add it to the table in deps_test.go (and to DESIGN.md) in the same commit.
package lint
