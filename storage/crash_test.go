package storage

import (
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
	"github.com/ironraft/ironraft/wal"
)

// recState is what a node restarts from: the hard state, the snapshot and
// the entries after it.
type recState struct {
	HS   *raftpb.HardState
	Snap *raftpb.Snapshot
	Ents []*raftpb.Entry
}

// model is the slow, obvious version of what Storage must recover: a log
// as a slice from logFirst, with Raft's rules applied literally.
type model struct {
	hs       *raftpb.HardState
	snap     *raftpb.Snapshot
	logFirst uint64
	log      []*raftpb.Entry
}

func newModel() *model {
	return &model{hs: &raftpb.HardState{}, logFirst: 1,
		snap: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: &raftpb.ConfState{}}}}
}

func (m *model) next() uint64 { return m.logFirst + uint64(len(m.log)) }

func (m *model) term(i uint64) (uint64, bool) {
	if i < m.logFirst || i >= m.next() {
		return 0, false
	}
	return m.log[i-m.logFirst].Term, true
}

func (m *model) state() recState {
	st := recState{HS: m.hs, Snap: m.snap}
	for _, e := range m.log {
		if e.Index > m.snap.GetMetadata().GetIndex() {
			st.Ents = append(st.Ents, e)
		}
	}
	return st
}

// steps applies op to m and returns the state after each record op writes
// (a crash may keep any prefix of them), and how many of those a successful
// op made durable.
func (m *model) steps(op scriptOp) (out []recState, durable int) {
	switch op.kind {
	case "bootstrap":
		m.snap = &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{ConfState: op.cs}}
		return []recState{m.state()}, 1
	case "create":
		cs := op.cs
		if cs == nil {
			cs = m.snap.GetMetadata().GetConfState()
		}
		t, _ := m.term(op.index)
		m.snap = &raftpb.Snapshot{Data: op.data, Metadata: &raftpb.SnapshotMetadata{Index: op.index, Term: t, ConfState: cs}}
		return []recState{m.state()}, 1
	case "compact":
		return nil, 0
	}
	if op.snap != nil {
		md := op.snap.GetMetadata()
		if t, ok := m.term(md.GetIndex()); !ok || t != md.GetTerm() {
			m.logFirst, m.log = md.GetIndex()+1, nil
		}
		m.snap = op.snap
		out = append(out, m.state())
		durable = 1
	}
	if len(op.ents) > 0 {
		if i := op.ents[0].Index; i < m.next() {
			m.log = m.log[: i-m.logFirst : i-m.logFirst]
			out = append(out, m.state())
		}
		m.log = append(m.log, op.ents...)
		out = append(out, m.state())
	}
	if h := op.hs; h != nil && (h.Term != m.hs.Term || h.Vote != m.hs.Vote || h.Commit != m.hs.Commit) {
		m.hs = h
		out = append(out, m.state())
	}
	if op.sync {
		durable = len(out)
	}
	return out, durable
}

// runScript replays script on a Storage on fs until the first error, and
// returns the model's states: states[acked] is the state every write that
// returned made durable, and the states after it are those a crash may
// also leave.
func runScript(t *testing.T, fs vfs.FS, meta wal.Meta, opts Options, script []scriptOp) (states []recState, acked int) {
	m := newModel()
	states = []recState{m.state()}
	s, err := Open(fs, testDir, meta, opts)
	if err != nil {
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("Open: got %v, want an error wrapping vfs.ErrCrashed", err)
		}
		return states, 0
	}
	defer s.Close()
	for i, op := range script {
		out, durable := m.steps(op)
		base := len(states) - 1
		states = append(states, out...)
		if err := op.apply(s); err != nil {
			if !errors.Is(err, vfs.ErrCrashed) {
				t.Fatalf("op %d (%s): got %v, want an error wrapping vfs.ErrCrashed", i, op.kind, err)
			}
			return states, acked
		}
		if durable > 0 {
			acked = base + durable
		}
	}
	if err := s.Close(); err != nil {
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("Close: %v", err)
		}
		return states, acked
	}
	return states, len(states) - 1
}

// readRecState reads what s restarts from, and checks that its first
// index follows its snapshot.
func readRecState(t *testing.T, s *Storage) recState {
	t.Helper()
	var st recState
	st.HS, _, _ = s.InitialState()
	st.Snap, _ = s.Snapshot()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if si := st.Snap.GetMetadata().GetIndex(); first != si+1 {
		t.Fatalf("FirstIndex = %d, want snapshot index %d + 1", first, si)
	}
	es, err := s.Entries(first, last+1, 1<<62)
	if err != nil {
		t.Fatalf("Entries(%d, %d): %v", first, last+1, err)
	}
	st.Ents = es
	return st
}

func equalRecState(a, b recState) bool {
	if a.HS.GetTerm() != b.HS.GetTerm() || a.HS.GetVote() != b.HS.GetVote() || a.HS.GetCommit() != b.HS.GetCommit() ||
		len(a.Ents) != len(b.Ents) {
		return false
	}
	am, bm := a.Snap.GetMetadata(), b.Snap.GetMetadata()
	if am.GetIndex() != bm.GetIndex() || am.GetTerm() != bm.GetTerm() || string(a.Snap.GetData()) != string(b.Snap.GetData()) ||
		fmt.Sprint(am.GetConfState().GetVoters()) != fmt.Sprint(bm.GetConfState().GetVoters()) {
		return false
	}
	for i, e := range a.Ents {
		f := b.Ents[i]
		if e.Index != f.Index || e.Term != f.Term || e.Type != f.Type || string(e.Data) != string(f.Data) {
			return false
		}
	}
	return true
}

// checkRecovery opens the crashed fs and checks that it holds one of
// states[acked:], that opening it again gives the same, and that a RawNode
// starts on it and persists its Readies.
func checkRecovery(t *testing.T, fs vfs.FS, meta wal.Meta, opts Options, states []recState, acked int) {
	t.Helper()
	s, err := Open(fs, testDir, meta, opts)
	if err != nil {
		t.Fatalf("Open after the crash: %v", err)
	}
	got := readRecState(t, s)
	found := false
	for _, st := range states[acked:] {
		if equalRecState(got, st) {
			found = true
			break
		}
	}
	if !found {
		t.Fatalf("recovered a state that is not one of the %d states at or after the last acknowledged one; against that one (-want +got):\n%s",
			len(states)-acked, cmp.Diff(states[acked], got, cmpOpts...))
	}
	if got.HS.GetTerm() < states[acked].HS.GetTerm() {
		t.Fatalf("recovered term %d, below the acknowledged %d", got.HS.GetTerm(), states[acked].HS.GetTerm())
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = Open(fs, testDir, meta, opts)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer s.Close()
	if again := readRecState(t, s); !equalRecState(got, again) {
		t.Fatalf("second Open recovered another state (-first +second):\n%s", cmp.Diff(got, again, cmpOpts...))
	}
	restartRawNode(t, s, meta.NodeID)
}

// restartRawNode starts a RawNode on s and persists its Readies.
func restartRawNode(t *testing.T, s *Storage, id uint64) {
	t.Helper()
	sn, _ := s.Snapshot()
	rn, err := raft.NewRawNode(raftConfig(id, s, sn.GetMetadata().GetIndex()))
	if err != nil {
		t.Fatalf("NewRawNode on the recovered storage: %v", err)
	}
	for range 30 {
		rn.Tick()
		for rn.HasReady() {
			rd := rn.Ready()
			if err := s.SaveReady(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync); err != nil {
				t.Fatalf("SaveReady after restart: %v", err)
			}
			rn.Advance()
		}
	}
}

// crashScript replays script with a crash at every mutating operation,
// and with the last write torn at several lengths, and checks recovery.
func crashScript(t *testing.T, meta wal.Meta, opts Options, script []scriptOp) {
	dry := vfs.NewFault(vfs.NewMem())
	states, acked := runScript(t, dry, meta, opts, script)
	if acked != len(states)-1 {
		t.Fatalf("dry run: acked %d of %d states", acked, len(states))
	}
	total := dry.MutatingOps()
	tears := []int{-1, 0, 1, 9, 30, 200}
	if testing.Short() {
		tears = []int{-1, 9}
	}
	for n := 0; n <= total; n++ {
		for _, tear := range tears {
			mem := vfs.NewMem()
			f := vfs.NewFault(mem)
			f.CrashAfter(n)
			states, acked := runScript(t, f, meta, opts, script)
			if tear >= 0 && f.TearLastWrite(tear) != nil {
				continue
			}
			t.Run(fmt.Sprintf("crash=%d,tear=%d", n, tear), func(t *testing.T) {
				checkRecovery(t, mem.Crash(), meta, opts, states, acked)
			})
		}
	}
	t.Logf("%d crash points", total+1)
}

// TestStorageCrashAtEveryPoint replays the writes of a hand-made sequence
// of Readies, snapshots and compactions with a crash at every write, sync,
// rename and removal (and torn last writes): what was acknowledged is
// recovered exactly, nothing that was not written appears, and a RawNode
// restarts on the result.
func TestStorageCrashAtEveryPoint(t *testing.T) {
	for _, c := range cacheCases {
		t.Run(c.name, func(t *testing.T) {
			crashScript(t, testMeta, c.opts, handcraftedScript())
		})
	}
}

// TestStorageCrashAtEveryPointClusterRun does the same with the writes of
// the members of a three-node cluster run: the leader, and the member cut
// off by a partition that later receives a snapshot.
func TestStorageCrashAtEveryPointClusterRun(t *testing.T) {
	scripts := recordClusterScripts(t)
	for _, c := range cacheCases {
		for _, id := range []uint64{1, 3} {
			t.Run(fmt.Sprintf("%s/node%d", c.name, id), func(t *testing.T) {
				crashScript(t, wal.Meta{ClusterID: 0xc1, NodeID: id}, c.opts, scripts[id])
			})
		}
	}
}
