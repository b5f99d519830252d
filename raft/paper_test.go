package raft

// Tests tied to sentences of the Raft paper ("In Search of an Understandable
// Consensus Algorithm", extended version) and Ongaro's dissertation. Each
// test names the section and quotes the sentence it checks.

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

func electLeader(t *testing.T, tn *testNet, id uint64) {
	t.Helper()
	if err := tn.nodes[id].Campaign(); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if got := tn.leader(); got != id {
		t.Fatalf("leader = %d, want %d", got, id)
	}
}

// §5.1: "If a server receives a request with a stale term number, it
// rejects the request."
func TestPaperRejectStaleTermRequest(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	for _, id := range tn.ids {
		tn.setLog(id, 5, 1)
	}
	electLeader(t, tn, 1)
	r := tn.raft(2)
	before := entryTerms(tn, 2)
	err := tn.nodes[2].Step(&raftpb.Message{Type: raftpb.MsgApp, From: 3, To: 2, Term: r.term - 1,
		PrevLogIndex: 1, PrevLogTerm: 1,
		Entries: []*raftpb.Entry{{Index: 2, Term: r.term - 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if after := entryTerms(tn, 2); !equalU64(after, before) {
		t.Errorf("stale-term MsgApp changed the log: terms %v -> %v", before, after)
	}
	if r.lead != 1 {
		t.Errorf("lead = %d after stale MsgApp, want 1", r.lead)
	}
}

// §5.1: "If one server's current term is smaller than the other's, then it
// updates its current term to the larger value. If a candidate or leader
// discovers that its term is out of date, it immediately reverts to
// follower state."
func TestPaperLeaderStepsDownOnHigherTerm(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	r := tn.raft(1)
	term := r.term
	if err := tn.nodes[1].Step(&raftpb.Message{Type: raftpb.MsgAppResp, From: 2, To: 1, Term: term + 5}); err != nil {
		t.Fatal(err)
	}
	if r.state != StateFollower || r.term != term+5 {
		t.Errorf("after higher term: state %v term %d, want follower term %d", r.state, r.term, term+5)
	}
}

// §5.2: "If a follower receives no communication over a period of time
// called the election timeout, then it assumes there is no viable leader
// and begins an election" — with timeouts "chosen randomly from a fixed
// interval": here [E, 2E) ticks.
func TestPaperElectionTimeoutRandomizedInRange(t *testing.T) {
	const e = 10
	seen := map[int]bool{}
	for seed := uint64(1); seed <= 200; seed++ {
		ms := NewMemoryStorage()
		ms.SetConfState(&raftpb.ConfState{Voters: []uint64{1, 2, 3}})
		rn, err := NewRawNode(&Config{ID: 1, Storage: ms, ElectionTick: e, Rand: pcg(seed)})
		if err != nil {
			t.Fatal(err)
		}
		ticks := 0
		for rn.raft.state == StateFollower {
			rn.Tick()
			ticks++
			if ticks > 2*e {
				t.Fatalf("seed %d: no election after %d ticks", seed, ticks)
			}
		}
		if ticks < e || ticks >= 2*e {
			t.Fatalf("seed %d: election after %d ticks, want in [%d, %d)", seed, ticks, e, 2*e)
		}
		seen[ticks] = true
	}
	if len(seen) < e/2 {
		t.Errorf("election timeouts took only %d distinct values over 200 seeds", len(seen))
	}
}

// §5.2: "A server remains in follower state as long as it receives valid
// RPCs from a leader or candidate."
func TestPaperFollowerStaysWhileLeaderHeartbeats(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	term := tn.raft(1).term
	tn.tick(100)
	if got := tn.leader(); got != 1 || tn.raft(1).term != term {
		t.Errorf("after 100 ticks: leader %d term %d, want leader 1 term %d", got, tn.raft(1).term, term)
	}
}

// §5.2: "Each server will vote for at most one candidate in a given term,
// on a first-come-first-served basis."
func TestPaperVoteAtMostOncePerTerm(t *testing.T) {
	tn := newTestNet(t, 3, func(c *Config) { c.DisablePreVote = true })
	r := tn.raft(3)
	vote := func(from uint64) bool {
		if err := tn.nodes[3].Step(&raftpb.Message{Type: raftpb.MsgVote, From: from, To: 3, Term: 1}); err != nil {
			t.Fatal(err)
		}
		rd := tn.nodes[3].Ready()
		tn.nodes[3].Advance()
		for _, m := range rd.MessagesAfterPersist {
			if m.Type == raftpb.MsgVoteResp {
				return !m.Reject
			}
		}
		t.Fatalf("no MsgVoteResp to %d", from)
		return false
	}
	if !vote(1) {
		t.Fatal("first vote in term 1 rejected")
	}
	if vote(2) {
		t.Error("second candidate in term 1 granted a vote")
	}
	if !vote(1) {
		t.Error("repeated request of the same candidate rejected")
	}
	if r.vote != 1 {
		t.Errorf("vote = %d, want 1", r.vote)
	}
}

// §5.2: "A candidate wins an election if it receives votes from a majority
// of the servers in the full cluster for the same term."
func TestPaperCandidateNeedsMajority(t *testing.T) {
	tn := newTestNet(t, 5, nil)
	tn.isolate(3, 4, 5)
	tn.nodes[1].Campaign()
	tn.stabilize()
	if st := tn.raft(1).state; st == StateLeader {
		t.Fatal("won with 2 of 5 reachable")
	}
	tn.isolate(4, 5)
	tn.nodes[1].Campaign()
	tn.stabilize()
	if st := tn.raft(1).state; st != StateLeader {
		t.Fatalf("state = %v with 3 of 5 reachable, want leader", st)
	}
}

// §5.2: "If the leader's term (included in its RPC) is at least as large as
// the candidate's current term, then the candidate recognizes the leader as
// legitimate and returns to follower state."
func TestPaperCandidateYieldsToLeaderOfSameTerm(t *testing.T) {
	tn := newTestNet(t, 3, func(c *Config) { c.DisablePreVote = true })
	tn.nodes[2].Campaign()
	r := tn.raft(2)
	if r.state != StateCandidate {
		t.Fatalf("state = %v, want candidate", r.state)
	}
	err := tn.nodes[2].Step(&raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: r.term})
	if err != nil {
		t.Fatal(err)
	}
	if r.state != StateFollower || r.lead != 1 {
		t.Errorf("state %v lead %d, want follower of 1", r.state, r.lead)
	}
}

// §5.3: "A log entry is committed once the leader that created the entry
// has replicated it on a majority of the servers" — and not before.
func TestPaperCommitNeedsMajority(t *testing.T) {
	tn := newTestNet(t, 5, nil)
	electLeader(t, tn, 1)
	commit := tn.raft(1).raftLog.committed
	tn.isolate(3, 4, 5)
	tn.nodes[1].Propose([]byte("x"))
	tn.stabilize()
	if got := tn.raft(1).raftLog.committed; got != commit {
		t.Fatalf("committed %d with 2 of 5 replicas, want %d", got, commit)
	}
	tn.isolate(4, 5)
	tn.tick(1, 1) // heartbeat: node 3 acks and gets the entry
	if got := tn.raft(1).raftLog.committed; got != commit+1 {
		t.Fatalf("committed %d with 3 of 5 replicas, want %d", got, commit+1)
	}
}

// §5.3: "If a follower's log is inconsistent with the leader's, the
// AppendEntries consistency check fails ... the leader decrements nextIndex
// and retries" and "conflicting entries in follower logs will be
// overwritten with entries from the leader's log."
func TestPaperLeaderOverwritesConflictingSuffix(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	tn.setLog(1, 3, 1, 1, 3, 3)
	tn.setLog(2, 3, 1, 1, 3)
	tn.setLog(3, 2, 1, 1, 2, 2, 2, 2)
	electLeader(t, tn, 1)
	want := entryTerms(tn, 1)
	for _, id := range tn.ids {
		if got := entryTerms(tn, id); !equalU64(got, want) {
			t.Errorf("node %d log terms %v, want %v", id, got, want)
		}
	}
}

// §5.4.1: "The RequestVote RPC ... the voter denies its vote if its own log
// is more up-to-date than that of the candidate."
func TestPaperStaleLogCandidateLoses(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	tn.setLog(1, 2, 1, 1)
	tn.setLog(2, 2, 1, 1, 2)
	tn.setLog(3, 2, 1, 1, 2)
	tn.nodes[1].Campaign()
	tn.stabilize()
	if tn.raft(1).state == StateLeader {
		t.Fatal("candidate with a stale log won")
	}
	for _, m := range tn.sentOfType(raftpb.MsgPreVoteResp) {
		if m.To == 1 && !m.Reject {
			t.Errorf("node %d granted a pre-vote to the stale candidate", m.From)
		}
	}
}

// §5.4.2: "Raft never commits log entries from previous terms by counting
// replicas. Only log entries from the leader's current term are committed
// by counting replicas."
func TestPaperNoCommitOfPreviousTermByCounting(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	// Node 1 holds an entry of term 2 nobody else has; it becomes leader of
	// term 3 (its log is the most up to date).
	tn.setLog(1, 2, 1, 2)
	tn.setLog(2, 2, 1)
	tn.setLog(3, 2, 1)
	r := tn.raft(1)
	// Strip the new no-op (term 3) from every append, so the term 2 entry
	// reaches a majority while no term 3 entry does.
	tn.drop = func(m *raftpb.Message) bool {
		var kept []*raftpb.Entry
		for _, e := range m.Entries {
			if e.Term != 3 {
				kept = append(kept, e)
			}
		}
		m.Entries = kept
		return false
	}
	tn.nodes[1].Campaign()
	tn.stabilize()
	tn.tick(3, 1)
	if r.state != StateLeader {
		t.Fatalf("state = %v, want leader", r.state)
	}
	if tn.raft(2).raftLog.lastIndex() < 2 {
		t.Fatalf("entry 2 (term 2) did not reach node 2")
	}
	if r.raftLog.committed >= 2 {
		t.Fatalf("committed %d: the term-2 entry was committed by counting replicas", r.raftLog.committed)
	}
	tn.heal()
	tn.tick(1, 1)
	if r.raftLog.committed != 3 {
		t.Errorf("committed = %d after the term-3 no-op replicated, want 3", r.raftLog.committed)
	}
}

// Dissertation §6.4: "If the leader has not yet marked an entry from its
// current term committed, it waits until it has done so." and "the leader
// needs to make sure it hasn't been superseded ... it sends a new round of
// heartbeats and waits for their acknowledgments from a majority."
func TestPaperReadIndexWaitsForTermCommitAndQuorum(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	tn.nodes[1].Campaign()
	// Process until node 1 is leader but before its no-op commits.
	for i := 0; i < 10 && tn.raft(1).state != StateLeader; i++ {
		tn.process()
		tn.deliver()
	}
	if tn.raft(1).state != StateLeader || tn.raft(1).committedInTerm() {
		t.Fatalf("setup: state %v committedInTerm %v", tn.raft(1).state, tn.raft(1).committedInTerm())
	}
	id, err := tn.nodes[1].ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	tn.process()
	if len(tn.reads[1]) != 0 {
		t.Fatalf("read answered before the term's first commit: %+v", tn.reads[1])
	}
	tn.stabilize()
	if len(tn.reads[1]) != 1 || tn.reads[1][0].ID != id || tn.reads[1][0].Index < 1 {
		t.Fatalf("reads = %+v, want one for ID %d at index >= 1", tn.reads[1], id)
	}
	// With the followers cut off, a read is never confirmed.
	tn.isolate(2, 3)
	if _, err := tn.nodes[1].ReadIndex(); err != nil {
		t.Fatal(err)
	}
	tn.stabilize()
	if len(tn.reads[1]) != 1 {
		t.Fatalf("read confirmed without a quorum: %+v", tn.reads[1])
	}
}

// Dissertation §10.2.1: "the leader can write to its disk in parallel with
// replicating to the followers" — and it counts itself only once written.
func TestPaperLeaderAppendsBeforePersistAndCountsAfter(t *testing.T) {
	tn := newTestNet(t, 3, nil)
	electLeader(t, tn, 1)
	tn.nodes[1].Propose([]byte("x"))
	rd := tn.nodes[1].Ready()
	var apps int
	for _, m := range rd.MessagesBeforePersist {
		if m.Type == raftpb.MsgApp && len(m.Entries) > 0 {
			apps++
		}
	}
	if apps != 2 || len(rd.Entries) != 1 || !rd.MustSync {
		t.Fatalf("Ready: %d MsgApp before persist, %d entries, MustSync %v; want 2, 1, true", apps, len(rd.Entries), rd.MustSync)
	}
	r := tn.raft(1)
	if pr := r.trk.Progress[1]; pr.Match >= rd.Entries[0].Index {
		t.Fatalf("leader counted itself at %d before persisting", pr.Match)
	}
	tn.storage[1].Append(rd.Entries)
	tn.nodes[1].Advance()
	if pr := r.trk.Progress[1]; pr.Match != rd.Entries[0].Index {
		t.Errorf("leader match = %d after persisting, want %d", pr.Match, rd.Entries[0].Index)
	}
}

func entryTerms(tn *testNet, id uint64) []uint64 {
	l := tn.raft(id).raftLog
	ents, err := l.entries(l.firstIndex(), noLimit)
	if err != nil {
		tn.t.Fatal(err)
	}
	var terms []uint64
	for _, e := range ents {
		terms = append(terms, e.Term)
	}
	return terms
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

const noLimit = ^uint64(0)
