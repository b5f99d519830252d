// Package check holds the correctness checkers the simulator (and, later,
// the chaos suite) runs against a Raft cluster: Raft's safety invariants
// (election safety, leader append-only, log matching, leader completeness,
// state-machine safety, durability of committed entries) and a porcupine
// model of a key-value store for client histories.
//
// Checkers are generic over node IDs and know nothing about how the cluster
// is driven: the caller reports what it observes (a leader in a term, the
// entries of a leader's Ready, a node's commit index and log, an applied
// entry) and each checker returns a *Violation the moment an invariant
// breaks. Checkers are deterministic and never iterate Go maps in an order
// that could leak into their results.
package check
