package check

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Keys longer than 255 bytes survive Encode (the key length was once
// stored in one byte).
func TestKVCommandLongKeyRoundTrips(t *testing.T) {
	c := KVCommand{Client: 1, Op: 1, Key: strings.Repeat("k", 256), Value: "v"}
	got, ok := DecodeKVCommand(c.Encode())
	if diff := cmp.Diff(c, got); !ok || diff != "" {
		t.Errorf("DecodeKVCommand(Encode(256-byte key)) ok=%v mismatch (-want +got):\n%s", ok, diff)
	}
}

// Entries compacted into a snapshot count as durable on that node.
func TestCheckDurableCompactedLogs(t *testing.T) {
	var l Ledger
	if err := l.Committed(1, 1, 3, terms(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	// Nodes 1 and 2 compacted through index 2 (a snapshot of term 1); node 3 is empty.
	logs := []NodeLog{{1, termsFrom(2, 1, 1)}, {2, termsFrom(2, 1, 1)}, {3, terms()}}
	if err := l.CheckDurable(logs, 2); err != nil {
		t.Errorf("CheckDurable(compacted logs, 2) = %v, want nil", err)
	}
}

// A new leader whose log is compacted holds the compacted entries.
func TestLeaderElectedCompactedLog(t *testing.T) {
	var l Ledger
	if err := l.Committed(1, 1, 3, terms(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.LeaderElected(2, 2, termsFrom(2, 1, 1)); err != nil {
		t.Errorf("LeaderElected(2, 2, log compacted through 2) = %v, want nil", err)
	}
}

// A restarted node whose durable log is compacted reports its durable
// commit index without a persistence violation.
func TestCommittedAfterRestartCompactedLog(t *testing.T) {
	var l Ledger
	if err := l.Committed(1, 1, 3, terms(1, 1, 1)); err != nil {
		t.Fatal(err)
	}
	l.Restarted(1)
	if err := l.Committed(1, 1, 3, termsFrom(2, 1, 1)); err != nil {
		t.Errorf("Committed(1, 1, 3, log compacted through 2) after Restarted(1) = %v, want nil", err)
	}
}

// An entry with index 0 is reported, not a panic of the ledger.
func TestAppliedIndexZeroIsReported(t *testing.T) {
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("Applied(1, 1, index 0) panicked: %v", p)
		}
	}()
	var l Ledger
	_ = l.Applied(1, 1, ent(0, 1, "x"))
}

// A leader's later Ready that leaves a gap after its stable log is a
// violation: batches start right after the stable log.
func TestLeaderAppendOnlyGap(t *testing.T) {
	var c LeaderAppendOnly
	_ = c.OnReady(1, 2, true, 3, termEnts(4, 2))
	if err := c.OnReady(1, 2, true, 4, termEnts(6, 2)); err == nil {
		t.Errorf("OnReady(1, 2, true, 4, [e6@t2]) = nil, want a violation")
	}
}

// An entry known committed only in the term of the new leader is checked by
// leader completeness: it must have been committed in an earlier term
// (nothing is committed in a term before its leader is elected).
func TestLeaderElectedSameTermCommit(t *testing.T) {
	var l Ledger
	// Node 1, a follower already in term 3, reports commit index 2.
	if err := l.Committed(1, 3, 2, terms(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.LeaderElected(2, 3, terms(1)); err == nil {
		t.Errorf("LeaderElected(2, 3, log without entry 2) = nil, want a violation")
	}
}
