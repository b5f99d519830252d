// Package e2e holds process-level tests of ironkv: each test starts real
// `ironkv serve` processes on loopback ports and talks to them as a user
// would, with clientv3 and with etcd's own etcdctl binaries. The package has
// no code of its own besides its tests.
//
// TestMain builds cmd/ironkv once (without the race detector) into a
// temporary directory, or uses the binary named by $IRONKV_BIN. The etcdctl
// compatibility matrix (TestEtcdctlMatrix) needs etcdctl 3.4 and 3.7 in
// $IRONKV_TOOLS/bin, as built by scripts/etcd-tools.sh; without them it is
// skipped, except under CI (with $CI set), where it fails.
//
// Every cluster runs with a 50ms heartbeat and a 500ms election timeout.
// Members log to files in the test's temporary directory; a failed test
// prints the tail of every member's log. No process outlives its test: they
// are killed in t.Cleanup, and on Linux with a parent-death signal should
// the test binary itself die.
//
// Environment:
//
//	IRONKV_BIN     an ironkv binary to test instead of building one
//	IRONKV_TOOLS   the directory of scripts/etcd-tools.sh (binaries in bin/)
//	CI             set in CI: missing tools fail the matrix instead of skipping it
package e2e
