package wal

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// walOp is one step of a crash-test workload.
type walOp struct {
	kind    string // "save", "marker", "compact"
	hs      *raftpb.HardState
	ents    []*raftpb.Entry
	sync    bool
	index   uint64
	term    uint64
	compact uint64
}

func opSave(h *raftpb.HardState, es []*raftpb.Entry, sync bool) walOp {
	return walOp{kind: "save", hs: h, ents: es, sync: sync}
}
func opMarker(index, term uint64) walOp { return walOp{kind: "marker", index: index, term: term} }
func opCompact(index uint64) walOp      { return walOp{kind: "compact", compact: index} }

// crashWorkload appends, truncates (twice), updates the hard state, saves
// snapshot markers (one that discards the log), compacts, and cuts several
// segments of 4 KiB.
func crashWorkload() []walOp {
	return []walOp{
		opSave(hs(1, 1, 0), ents(1, 1, 3, 100), true),
		opSave(nil, ents(1, 4, 5, 100), false),
		opSave(hs(1, 1, 2), nil, true),
		opSave(hs(2, 0, 2), ents(2, 4, 6, 100), true), // truncates 4, 5
		opSave(nil, ents(2, 7, 20, 300), true),
		opMarker(5, 2),
		opCompact(5),
		opSave(hs(2, 0, 10), ents(2, 21, 30, 200), false),
		opSave(hs(2, 0, 12), nil, true),
		opMarker(12, 2),
		opCompact(12),
		opSave(hs(3, 3, 12), ents(3, 26, 28, 50), false), // truncates 26..30
		opSave(nil, ents(3, 29, 29, 50), true),
		opMarker(40, 4), // a snapshot from a leader: the log is discarded
		opSave(hs(4, 0, 40), ents(4, 41, 45, 400), true),
		opCompact(40),
		opSave(hs(4, 0, 44), ents(4, 46, 60, 250), true),
	}
}

// model is the slow, obvious version of the log the WAL must recover.
type model struct {
	first  uint64
	ents   []*raftpb.Entry // first..first+len-1
	marker SnapshotMarker
	hs     hardState
}

func (m *model) next() uint64 { return m.first + uint64(len(m.ents)) }

func (m *model) recovered() *Recovered {
	r := &Recovered{HardState: m.hs.proto(), Snapshot: m.marker}
	for _, e := range m.ents {
		if e.Index > m.marker.Index {
			r.Entries = append(r.Entries, e)
		}
	}
	return r
}

// steps applies op to m and returns the state after each record op writes:
// a crash may keep any prefix of the records.
func (m *model) steps(op walOp) []*Recovered {
	var out []*Recovered
	switch op.kind {
	case "save":
		if len(op.ents) > 0 {
			if i := op.ents[0].Index; i < m.next() {
				m.ents = m.ents[:i-m.first]
				out = append(out, m.recovered())
			}
			m.ents = append(m.ents, op.ents...)
			out = append(out, m.recovered())
		}
		if op.hs != nil {
			if h := (hardState{op.hs.Term, op.hs.Vote, op.hs.Commit}); h != m.hs {
				m.hs = h
				out = append(out, m.recovered())
			}
		}
	case "marker":
		mk := SnapshotMarker{Index: op.index, Term: op.term}
		keep := op.index >= m.first && op.index < m.next() && m.ents[op.index-m.first].Term == op.term
		if !keep && m.next() > m.marker.Index+1 {
			// The entries after the old marker are truncated first.
			m.ents = m.ents[:max(m.marker.Index+1, m.first)-m.first]
			out = append(out, m.recovered())
		}
		m.marker = mk
		if !keep {
			m.first, m.ents = op.index+1, nil
		}
		out = append(out, m.recovered())
	}
	return out
}

// run applies ops to w and returns the model's states: states[acked] is the
// state of the last synced call that succeeded (-1: Create failed), and
// every state after it is one a crash may leave. It stops at the first
// error.
func runWorkload(t *testing.T, fs vfs.FS, ops []walOp) (states []*Recovered, acked int) {
	return runOn(t, &model{first: 1}, func() (*WAL, error) { return Create(fs, testDir, testMeta, smallOpts) }, ops)
}

// runOn is runWorkload from the state m, on the WAL open returns.
func runOn(t *testing.T, m *model, open func() (*WAL, error), ops []walOp) (states []*Recovered, acked int) {
	states = []*Recovered{m.recovered()}
	w, err := open()
	if err != nil {
		return states, -1
	}
	defer w.Close()
	for _, op := range ops {
		states = append(states, m.steps(op)...)
		switch op.kind {
		case "save":
			err = w.Save(op.hs, op.ents, op.sync)
		case "marker":
			err = w.SaveSnapshotMarker(op.index, op.term)
		case "compact":
			err = w.Compact(op.compact)
		}
		if err != nil {
			if !errors.Is(err, vfs.ErrCrashed) {
				t.Fatalf("%s: got %v, want an error wrapping vfs.ErrCrashed", op.kind, err)
			}
			return states, acked
		}
		if op.sync || op.kind == "marker" {
			acked = len(states) - 1
		}
	}
	if err := w.Close(); err != nil {
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("Close: %v", err)
		}
		return states, acked
	}
	return states, len(states) - 1
}

// TestWALCrashAtEveryPoint crashes the workload at every mutating file
// system operation, and also tears the last write at several byte offsets,
// then checks that recovery returns exactly one of the states the synced
// prefix allows: everything synced, nothing beyond a torn tail, a hard state
// that never goes back. It then appends after recovery and recovers again.
func TestWALCrashAtEveryPoint(t *testing.T) {
	ops := crashWorkload()
	// Count the mutating operations of a run without a crash.
	probe := vfs.NewFault(vfs.NewMem())
	if _, acked := runWorkload(t, probe, ops); acked < 0 {
		t.Fatal("workload without a crash failed")
	}
	total := probe.MutatingOps()
	tears := []int{-1, 0, 1, 4, 9, 12, 50, 200, 1000, 5000}
	runs := 0
	for k := 0; k <= total; k++ {
		for _, tear := range tears {
			mem := vfs.NewMem()
			ffs := vfs.NewFault(mem)
			ffs.CrashAfter(k)
			states, acked := runWorkload(t, ffs, ops)
			if tear >= 0 {
				if err := mem.TearLastWrite(tear); err != nil {
					continue // no unsynced write, or a shorter one
				}
			}
			runs++
			checkCrashRecovery(t, fmt.Sprintf("crash after %d of %d ops, tear %d", k, total, tear), mem.Crash(), states, acked)
		}
	}
	t.Logf("%d crash points, %d runs", total+1, runs)
}

func checkCrashRecovery(t *testing.T, what string, fs *vfs.MemFS, states []*Recovered, acked int) {
	t.Helper()
	w, rec, err := Open(fs, testDir, testMeta, smallOpts)
	if errors.Is(err, ErrNotFound) && acked < 0 {
		return
	}
	if err != nil {
		t.Fatalf("%s: Open: %v", what, err)
	}
	match := -1
	for j := max(acked, 0); j < len(states); j++ {
		if equalRecovered(rec, states[j]) {
			match = j
			break
		}
	}
	if match < 0 {
		t.Fatalf("%s: recovered a state that is not one a crash may leave (acked state %d of %d); diff from the acked state (-want +got):\n%s",
			what, acked, len(states)-1, diffRecovered(rec, states[max(acked, 0)]))
	}
	// Append after recovery, then recover again: the repaired tail must not
	// hide or resurrect anything.
	next := rec.Snapshot.Index + uint64(len(rec.Entries)) + 1
	more := ents(9, next, next+2, 70)
	if err := w.Save(hs(9, 0, rec.HardState.Commit), more, true); err != nil {
		t.Fatalf("%s: Save after recovery: %v", what, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("%s: Close after recovery: %v", what, err)
	}
	_, rec2, err := Open(fs.Crash(), testDir, testMeta, smallOpts)
	if err != nil {
		t.Fatalf("%s: second Open: %v", what, err)
	}
	want := &Recovered{HardState: hs(9, 0, rec.HardState.Commit), Snapshot: rec.Snapshot,
		Entries: append(append([]*raftpb.Entry(nil), rec.Entries...), more...)}
	if !equalRecovered(rec2, want) {
		t.Fatalf("%s: second recovery (-want +got):\n%s", what, diffRecovered(rec2, want))
	}
}

func modelOf(r *Recovered) *model {
	m := &model{first: r.Snapshot.Index + 1, marker: r.Snapshot,
		hs: hardState{r.HardState.Term, r.HardState.Vote, r.HardState.Commit}}
	m.ents = append(m.ents, r.Entries...)
	return m
}

// secondWorkload continues from a recovered state: a new term, appends, a
// truncation of unsynced entries, hard-state updates, segment cuts.
func secondWorkload(r *Recovered) []walOp {
	term := r.HardState.Term + 1
	last := r.Snapshot.Index + uint64(len(r.Entries))
	commit := r.HardState.Commit
	return []walOp{
		opSave(hs(term, 0, commit), ents(term, last+1, last+4, 300), true),
		opSave(nil, ents(term, last+5, last+8, 300), false),
		opSave(hs(term, 1, commit), ents(term+1, last+6, last+7, 300), true), // truncates last+6..
		opSave(nil, ents(term+1, last+8, last+20, 300), true),
	}
}

// TestWALCrashTwice crashes a first run at a sample of points, recovers,
// continues with a second workload and crashes it at every point: the
// second recovery must be a state the second run allows, so nothing synced
// is lost and the hard state never goes back across crashes.
func TestWALCrashTwice(t *testing.T) {
	ops := crashWorkload()
	probe := vfs.NewFault(vfs.NewMem())
	runWorkload(t, probe, ops)
	total := probe.MutatingOps()
	runs := 0
	for k := 5; k <= total; k += 6 {
		mem := vfs.NewMem()
		ffs := vfs.NewFault(mem)
		ffs.CrashAfter(k)
		runWorkload(t, ffs, ops)
		disk1 := mem.Crash()
		w, rec1, err := Open(disk1, testDir, testMeta, smallOpts)
		if errors.Is(err, ErrNotFound) {
			continue // crashed inside Create
		}
		if err != nil {
			t.Fatalf("crash after %d: Open: %v", k, err)
		}
		w.Close()
		ops2 := secondWorkload(rec1)
		probe2 := vfs.NewFault(disk1.Crash())
		runOn(t, modelOf(rec1), func() (*WAL, error) {
			w, _, err := Open(probe2, testDir, testMeta, smallOpts)
			return w, err
		}, ops2)
		total2 := probe2.MutatingOps()
		for k2 := 0; k2 <= total2; k2++ {
			mem2 := disk1.Crash()
			ffs2 := vfs.NewFault(mem2)
			ffs2.CrashAfter(k2)
			states, acked := runOn(t, modelOf(rec1), func() (*WAL, error) {
				w, _, err := Open(ffs2, testDir, testMeta, smallOpts)
				return w, err
			}, ops2)
			if acked < 0 {
				acked = 0 // Open failed: the first recovery's state stands
			}
			runs++
			checkCrashRecovery(t, fmt.Sprintf("crash after %d, then after %d of %d", k, k2, total2), mem2.Crash(), states, acked)
		}
	}
	t.Logf("%d runs", runs)
}
