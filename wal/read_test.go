package wal

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// checkReads compares every ReadEntries range of w with the model m, under
// a few byte limits.
func checkReads(t *testing.T, what string, w *WAL, m *model) {
	t.Helper()
	w.mu.Lock()
	first, next := w.st.first, w.st.next()
	w.mu.Unlock()
	if next != m.next() {
		t.Fatalf("%s: WAL's next index %d, model's %d", what, next, m.next())
	}
	lo0 := max(first, m.first)
	for lo := lo0; lo < next; lo++ {
		for hi := lo + 1; hi <= next; hi++ {
			for _, mb := range []uint64{0, 300, 1 << 40} {
				got, err := w.ReadEntries(lo, hi, mb)
				if err != nil {
					t.Fatalf("%s: ReadEntries(%d, %d, %d): %v", what, lo, hi, mb, err)
				}
				want := limitEntries(m.ents[lo-m.first:hi-m.first], mb)
				if len(got) != len(want) {
					t.Fatalf("%s: ReadEntries(%d, %d, %d) = %d entries, want %d", what, lo, hi, mb, len(got), len(want))
				}
				for i := range got {
					if !equalEntry(got[i], want[i]) {
						t.Fatalf("%s: ReadEntries(%d, %d, %d)[%d] = %v, want %v", what, lo, hi, mb, i, got[i], want[i])
					}
				}
			}
		}
	}
	if first > 1 {
		if _, err := w.ReadEntries(first-1, next, 1<<40); !errors.Is(err, ErrCompacted) {
			t.Fatalf("%s: ReadEntries from %d, below the first index %d: %v, want ErrCompacted", what, first-1, first, err)
		}
	}
	if _, err := w.ReadEntries(lo0, next+1, 1<<40); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%s: ReadEntries up to %d, beyond the last index: %v, want ErrUnavailable", what, next, err)
	}
}

func limitEntries(ents []*raftpb.Entry, maxBytes uint64) []*raftpb.Entry {
	var size uint64
	for i, e := range ents {
		size += e.PayloadSize()
		if i > 0 && size > maxBytes {
			return ents[:i]
		}
	}
	return ents
}

// TestWALReadEntriesMatchesModel reads every range back after each step
// of the crash workload (appends, truncations, segment cuts, markers,
// compactions), and after reopening with every entry, or few, recovered.
func TestWALReadEntriesMatchesModel(t *testing.T) {
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	m := &model{first: 1}
	for i, op := range crashWorkload() {
		m.steps(op)
		var err error
		switch op.kind {
		case "save":
			err = w.Save(op.hs, op.ents, op.sync)
		case "marker":
			err = w.SaveSnapshotMarker(op.index, op.term)
		case "compact":
			err = w.Compact(op.compact)
		}
		if err != nil {
			t.Fatalf("op %d (%s): %v", i, op.kind, err)
		}
		checkReads(t, fmt.Sprintf("op %d (%s)", i, op.kind), w, m)
	}
	if len(w.Segments()) < 2 {
		t.Fatalf("only %d segments: the workload should cut several", len(w.Segments()))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadEntries(m.next()-1, m.next(), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadEntries after Close: %v, want ErrClosed", err)
	}
	want := m.recovered()
	for _, rb := range []int64{0, 1, 1000, 1 << 30} {
		opts := smallOpts
		opts.RecoverBytes = rb
		w, rec := mustOpen(t, fs.Crash(), opts)
		var size uint64
		for _, e := range rec.Entries {
			size += e.PayloadSize()
		}
		n := len(rec.Entries)
		if rb > 0 && size > uint64(rb) || n > len(want.Entries) || rec.LastIndex != m.next()-1 ||
			(n > 0 && !equalEntry(rec.Entries[n-1], want.Entries[len(want.Entries)-1])) {
			t.Fatalf("RecoverBytes %d: recovered %d entries (%d bytes) ending at %d, want a suffix of %d within the bound",
				rb, n, size, rec.LastIndex, len(want.Entries))
		}
		if rb == 0 || rb == 1<<30 {
			if d := diffRecovered(rec, want); d != "" {
				t.Fatalf("RecoverBytes %d: (-want +got):\n%s", rb, d)
			}
		}
		for i, e := range rec.Entries {
			if !equalEntry(e, want.Entries[len(want.Entries)-n+i]) {
				t.Fatalf("RecoverBytes %d: entry %d = %v, want %v", rb, i, e, want.Entries[len(want.Entries)-n+i])
			}
		}
		checkTermRuns(t, rec, want.Entries)
		checkReads(t, fmt.Sprintf("reopened with RecoverBytes %d", rb), w, m)
		w.Close()
	}
}

func checkTermRuns(t *testing.T, rec *Recovered, ents []*raftpb.Entry) {
	t.Helper()
	var want []TermRun
	for _, e := range ents {
		if len(want) == 0 || want[len(want)-1].Term != e.Term {
			want = append(want, TermRun{Index: e.Index, Term: e.Term})
		}
	}
	if fmt.Sprint(want) != fmt.Sprint(rec.Terms) {
		t.Fatalf("Terms = %v, want %v", rec.Terms, want)
	}
}

// TestWALReadEntriesCorruption flips a bit in a synced entry batch: reading
// it back is a *CorruptionError naming the segment.
func TestWALReadEntriesCorruption(t *testing.T) {
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	defer w.Close()
	mustSave(t, w, hs(1, 1, 0), ents(1, 1, 3, 100), true)
	w.mu.Lock()
	p := w.st.pos[1]
	w.mu.Unlock()
	seg := w.Segments()[0]
	if err := fs.FlipBit(fs.Join(testDir, seg), p.off+frameHeaderBytes+5, 2); err != nil {
		t.Fatal(err)
	}
	_, err := w.ReadEntries(1, 4, 1<<20)
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Segment != seg || ce.Offset != p.off {
		t.Fatalf("ReadEntries of a flipped record: %v, want a *CorruptionError at %s offset %d", err, seg, p.off)
	}
}

// TestWALReadEntriesConcurrentWithAppends reads while another goroutine
// appends, truncates and cuts segments (for the race detector): every read
// returns consecutive entries from lo with one of the terms written.
func TestWALReadEntriesConcurrentWithAppends(t *testing.T) {
	w := mustCreate(t, vfs.NewMem(), smallOpts)
	defer w.Close()
	mustSave(t, w, nil, ents(1, 1, 10, 50), true)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				last := w.LastIndex()
				got, err := w.ReadEntries(1, last+1, 1<<30)
				if err != nil {
					t.Errorf("ReadEntries(1, %d): %v", last+1, err)
					return
				}
				for i, e := range got {
					if e.Index != uint64(i)+1 {
						t.Errorf("entry %d has index %d", i, e.Index)
						return
					}
				}
			}
		}()
	}
	for term := uint64(2); term < 40; term++ {
		last := w.LastIndex()
		mustSave(t, w, hs(term, 0, 0), ents(term, last-3, last+5, 120), term%3 == 0)
	}
	close(done)
	wg.Wait()
}
