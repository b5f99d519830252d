// Package bench measures ironraft against github.com/hashicorp/raft under
// the same load: three members in one process, real network transports on
// loopback (grpctransport for ironraft, raft.NewTCPTransport for hashicorp),
// logs durable on disk (the ironraft WAL; a raft-boltdb BoltStore), and a
// trivial state machine that counts the bytes it applied.
//
// A load point (Load) runs N proposer goroutines against one member for a
// warm-up and then for a measured window. Each proposer loops: propose one
// command, wait until the proposing member applied it, record the latency.
// Run reports commits per second and the p50 and p99 latency.
//
// It is a module of its own (bench/go.mod), so the library never depends on
// hashicorp/raft or bbolt. Run it with
//
//	cd bench && go run ./cmd/raftbench
//
// or as Go benchmarks with `cd bench && go test -run=NONE -bench=.`.
package bench
