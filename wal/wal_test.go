package wal

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

func TestWALRoundTrip(t *testing.T) {
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	mustSave(t, w, hs(1, 2, 0), ents(1, 1, 10, 500), true)
	mustSave(t, w, hs(2, 0, 5), ents(2, 8, 12, 30), false) // truncates 8..10
	if err := w.SaveSnapshotMarker(4, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(w.Segments()); got < 2 {
		t.Fatalf("Segments() = %d segments, want several", got)
	}
	w, rec := mustOpen(t, fs.Crash(), smallOpts)
	want := &Recovered{HardState: hs(2, 0, 5), Snapshot: SnapshotMarker{Index: 4, Term: 1},
		Entries: append(ents(1, 5, 7, 500), ents(2, 8, 12, 30)...)}
	if d := diffRecovered(rec, want); d != "" {
		t.Fatalf("Open (-want +got):\n%s", d)
	}
	if got := w.LastIndex(); got != 12 {
		t.Fatalf("LastIndex() = %d, want 12", got)
	}
	w.Close()
}

func TestWALCreateTwiceFails(t *testing.T) {
	fs := vfs.NewMem()
	mustCreate(t, fs, smallOpts).Close()
	if _, err := Create(fs, testDir, testMeta, smallOpts); !errors.Is(err, ErrExist) {
		t.Fatalf("second Create = %v, want ErrExist", err)
	}
	if _, _, err := Open(fs, "elsewhere", testMeta, smallOpts); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open(empty dir) = %v, want ErrNotFound", err)
	}
	if !Exist(fs, testDir) || Exist(fs, "elsewhere") {
		t.Fatalf("Exist is wrong")
	}
}

func TestWALSaveRejectsBadInput(t *testing.T) {
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	defer w.Close()
	mustSave(t, w, nil, ents(1, 1, 5, 0), true)
	if err := w.SaveSnapshotMarker(3, 1); err != nil {
		t.Fatal(err)
	}
	gap := ents(1, 7, 7, 0)
	notConsecutive := []*raftpb.Entry{{Index: 6, Term: 1}, {Index: 8, Term: 1}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"gap", w.Save(nil, gap, true), "entries start at index 7, want 6"},
		{"not consecutive", w.Save(nil, notConsecutive, true), "entry 1 has index 8, want 7"},
		{"truncate below snapshot", w.Save(nil, ents(2, 3, 3, 0), true), "truncation at index 3 is at or below the snapshot at index 3"},
		{"marker back", w.SaveSnapshotMarker(2, 1), "does not follow (index 3, term 1)"},
		{"compact above marker", w.Compact(4), "above the snapshot marker at index 3"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, tt.err, tt.want)
		}
		if errors.Is(tt.err, ErrFailed) {
			t.Errorf("%s: %v fails the WAL, want a plain error", tt.name, tt.err)
		}
	}
	mustSave(t, w, nil, ents(1, 6, 6, 0), true) // still usable
}

func TestWALCompactRemovesWholeSegmentsBelowIndex(t *testing.T) {
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	for i := uint64(1); i <= 40; i += 5 {
		mustSave(t, w, hs(1, 0, i), ents(1, i, i+4, 400), true)
	}
	before := w.Segments()
	if err := w.SaveSnapshotMarker(30, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Compact(30); err != nil {
		t.Fatal(err)
	}
	after := w.Segments()
	if len(after) >= len(before) {
		t.Fatalf("Compact(30) kept %d of %d segments, want fewer", len(after), len(before))
	}
	for _, s := range after[1:] {
		if _, first, _ := parseSegmentName(s); first <= 31 {
			// Segment after[0] must be needed: the next one starts after 31.
			t.Fatalf("Compact(30) kept %v: segment %s starts at %d, so the one before it was removable", after, s, first)
		}
	}
	w.Close()
	_, rec := mustOpen(t, fs.Crash(), smallOpts)
	want := &Recovered{HardState: hs(1, 0, 36), Snapshot: SnapshotMarker{Index: 30, Term: 1}, Entries: ents(1, 31, 40, 400)}
	if d := diffRecovered(rec, want); d != "" {
		t.Fatalf("Open after Compact (-want +got):\n%s", d)
	}
}

// corruptFixture writes a WAL of several segments, closes it and returns
// the file system and the segment names.
func corruptFixture(t *testing.T) (*vfs.MemFS, []string) {
	t.Helper()
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	for i := uint64(1); i <= 60; i += 10 {
		mustSave(t, w, hs(1, 0, i), ents(1, i, i+9, 300), true)
	}
	w.Close()
	segs := w.Segments()
	if len(segs) < 4 {
		t.Fatalf("fixture has %d segments, want at least 4", len(segs))
	}
	return fs, segs
}

func wantCorruption(t *testing.T, fs vfs.FS, meta Meta, wantSeg, wantReason string) {
	t.Helper()
	_, _, err := Open(fs, testDir, meta, smallOpts)
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want a *CorruptionError", err)
	}
	if ce.Segment != wantSeg || !strings.Contains(ce.Reason, wantReason) {
		t.Fatalf("Open = %v, want segment %q and a reason containing %q", err, wantSeg, wantReason)
	}
	t.Logf("Open: %v", err)
}

func TestWALOpenBitFlipInMiddleSegment(t *testing.T) {
	fs, segs := corruptFixture(t)
	if err := fs.FlipBit(testDir+"/"+segs[1], segmentHeaderBytes+200, 3); err != nil {
		t.Fatal(err)
	}
	wantCorruption(t, fs, testMeta, segs[1], "checksum mismatch")
}

func TestWALOpenBitFlipInLastSegmentBeforeValidRecords(t *testing.T) {
	fs, segs := corruptFixture(t)
	last := segs[len(segs)-1]
	if err := fs.FlipBit(testDir+"/"+last, segmentHeaderBytes+20, 0); err != nil {
		t.Fatal(err)
	}
	wantCorruption(t, fs, testMeta, last, "a valid record follows")
}

func TestWALOpenMissingMiddleSegment(t *testing.T) {
	fs, segs := corruptFixture(t)
	if err := fs.Remove(testDir + "/" + segs[2]); err != nil {
		t.Fatal(err)
	}
	wantCorruption(t, fs, testMeta, "", "sequence 2 is missing")
}

func TestWALOpenMissingFirstSegmentWithoutSnapshot(t *testing.T) {
	fs, segs := corruptFixture(t)
	if err := fs.Remove(testDir + "/" + segs[0]); err != nil {
		t.Fatal(err)
	}
	wantCorruption(t, fs, testMeta, "", "entries 1 to")
}

func TestWALOpenSegmentOutOfSequence(t *testing.T) {
	fs, segs := corruptFixture(t)
	seq, first, _ := parseSegmentName(segs[2])
	if err := fs.Rename(testDir+"/"+segs[2], testDir+"/"+segmentName(seq, first+1)); err != nil {
		t.Fatal(err)
	}
	wantCorruption(t, fs, testMeta, segmentName(seq, first+1), "unlike its name")
}

func TestWALOpenTruncatedHeader(t *testing.T) {
	fs, segs := corruptFixture(t)
	f, err := fs.OpenReadWrite(testDir + "/" + segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantCorruption(t, fs, testMeta, segs[len(segs)-1], "truncated header: 20 bytes")
}

func TestWALOpenWrongNodeID(t *testing.T) {
	fs, segs := corruptFixture(t)
	_, _, err := Open(fs, testDir, Meta{ClusterID: testMeta.ClusterID, NodeID: 8}, smallOpts)
	var me *MismatchError
	if !errors.As(err, &me) || me.Segment != segs[0] || me.Got != testMeta {
		t.Fatalf("Open with node ID 8 = %v, want a *MismatchError for %s", err, segs[0])
	}
	if want := "belongs to cluster c1 node 7, not cluster c1 node 8"; !strings.Contains(err.Error(), want) {
		t.Fatalf("Open with node ID 8 = %q, want it to say %q", err, want)
	}
}

// countingHandler counts log records at error level.
type countingHandler struct {
	slog.Handler
	mu     sync.Mutex
	errors int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Level >= slog.LevelError {
		h.errors++
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func TestWALFsyncErrorIsFatal(t *testing.T) {
	ffs := vfs.NewFault(vfs.NewMem())
	logs := &countingHandler{}
	opts := smallOpts
	opts.Logger = slog.New(logs)
	w := mustCreate(t, ffs, opts)
	mustSave(t, w, hs(1, 0, 0), ents(1, 1, 2, 10), true)
	var mu sync.Mutex
	syncs := 0
	ffs.SetHook(func(op vfs.Op, name string) error {
		if op == vfs.OpSync || op == vfs.OpSyncDir {
			mu.Lock()
			defer mu.Unlock()
			syncs++
			return vfs.ErrInjected
		}
		return nil
	})
	err := w.Save(nil, ents(1, 3, 3, 10), true)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Save with a failing fsync = %v, want ErrFailed wrapping the fsync error", err)
	}
	later := []error{
		w.Save(nil, ents(1, 4, 4, 10), true),
		w.Save(hs(2, 0, 0), nil, false),
		w.SaveSnapshotMarker(1, 1),
		w.Compact(0),
		w.Close(),
	}
	for i, e := range later {
		if e != err {
			t.Errorf("call %d after the failure = %v, want the same error %v", i, e, err)
		}
	}
	if syncs != 1 {
		t.Errorf("fsync was tried %d times, want once (never retried)", syncs)
	}
	if logs.errors != 1 {
		t.Errorf("%d error log lines, want exactly 1", logs.errors)
	}
}

func TestWALWriteErrorIsFatal(t *testing.T) {
	ffs := vfs.NewFault(vfs.NewMem())
	w := mustCreate(t, ffs, smallOpts)
	ffs.SetHook(func(op vfs.Op, name string) error {
		if op == vfs.OpWrite {
			return vfs.ErrInjected
		}
		return nil
	})
	err := w.Save(nil, ents(1, 1, 1, 10), false)
	if !errors.Is(err, ErrFailed) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Save with a failing write = %v, want ErrFailed wrapping the write error", err)
	}
	ffs.SetHook(nil)
	if e := w.Save(nil, ents(1, 1, 1, 10), false); e != err {
		t.Fatalf("Save after the failure = %v, want %v", e, err)
	}
}

// TestWALGroupCommit holds the first fsync until every other appender has
// written its batch, then checks that one more fsync served them all.
func TestWALGroupCommit(t *testing.T) {
	const appenders = 8
	ffs := vfs.NewFault(vfs.NewMem())
	w := mustCreate(t, ffs, Options{SegmentBytes: 1 << 20})
	release := make(chan struct{})
	var mu sync.Mutex
	syncs := 0
	ffs.SetHook(func(op vfs.Op, name string) error {
		if op != vfs.OpSync {
			return nil
		}
		mu.Lock()
		syncs++
		first := syncs == 1
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	})
	var wg sync.WaitGroup
	errs := make([]error, appenders+1)
	wg.Go(func() { errs[0] = w.Save(hs(1, 0, 0), nil, true) }) // takes the first fsync
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return syncs == 1 })
	for i := 1; i <= appenders; i++ {
		wg.Go(func() { errs[i] = w.Save(hs(1, 0, uint64(i)), nil, true) })
	}
	// Each appender has written once its write is counted.
	waitFor(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.writtenGen == appenders+1 })
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("appender %d: %v", i, err)
		}
	}
	if syncs != 2 {
		t.Fatalf("%d fsyncs for %d concurrent batches, want 2 (one in flight, one for the rest)", syncs, appenders+1)
	}
	w.Close()
}

// waitFor waits for cond, yielding rather than sleeping, and fails the test
// if it does not hold within 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		runtime.Gosched()
	}
}

// TestWALConcurrentAppendersAcrossCuts runs appenders that order their
// Saves under their own lock and Sync outside it, with segments small enough
// that cuts happen while fsyncs are in flight, then recovers everything.
func TestWALConcurrentAppendersAcrossCuts(t *testing.T) {
	const appenders, each = 8, 40
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	var mu sync.Mutex
	next := uint64(1)
	var wg sync.WaitGroup
	errs := make([]error, appenders)
	for a := range appenders {
		wg.Go(func() {
			for range each {
				mu.Lock()
				err := w.Save(hs(1, 0, next-1), ents(1, next, next, 100), false)
				next++
				mu.Unlock()
				if err == nil {
					err = w.Sync()
				}
				if err != nil {
					errs[a] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for a, err := range errs {
		if err != nil {
			t.Fatalf("appender %d: %v", a, err)
		}
	}
	if len(w.Segments()) < 3 {
		t.Fatalf("%d segments, want several cuts", len(w.Segments()))
	}
	// Everything was synced: a crash without Close keeps it all.
	crashed := fs.Crash()
	w.Close()
	_, rec := mustOpen(t, crashed, smallOpts)
	want := &Recovered{HardState: hs(1, 0, appenders*each-1), Entries: ents(1, 1, appenders*each, 100)}
	if !equalRecovered(rec, want) {
		t.Fatalf("Open (-want +got):\n%s", diffRecovered(rec, want))
	}
}

// A snapshot marker that discards the log (its term differs from the log's
// at its index) must still discard it on replay after compaction removed the
// segment holding the entry at its index: the segment after it starts just
// past the marker, so replay no longer knows the term the marker was
// compared with at run time.
func TestWALRecoverDiscardingMarkerAfterCompactionRemovedItsEntry(t *testing.T) {
	fs := vfs.NewMem()
	w := mustCreate(t, fs, smallOpts)
	// Save entries of term 1 one at a time until a segment is cut; the new
	// segment starts at f.
	var f uint64
	for i := uint64(1); f == 0; i++ {
		mustSave(t, w, hs(1, 1, 0), ents(1, i, i, 300), true)
		if segs := w.Segments(); len(segs) > 1 {
			f = i
		}
	}
	mustSave(t, w, nil, ents(1, f+1, f+1, 300), true)
	// A leader's snapshot up to f-1 of term 2: the log has term 1 there, so
	// the log is discarded and the next entry is f.
	if err := w.SaveSnapshotMarker(f-1, 2); err != nil {
		t.Fatal(err)
	}
	mustSave(t, w, hs(2, 0, f-1), ents(2, f, f+2, 30), true)
	if err := w.Compact(f - 1); err != nil {
		t.Fatal(err)
	}
	if got := len(w.Segments()); got != 1 {
		t.Fatalf("Segments() after Compact(%d) = %d segments, want 1", f-1, got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, rec, err := Open(fs.Crash(), testDir, testMeta, smallOpts)
	if err != nil {
		t.Fatalf("Open = %v, want the log after the marker", err)
	}
	defer w.Close()
	want := &Recovered{HardState: hs(2, 0, f-1), Snapshot: SnapshotMarker{Index: f - 1, Term: 2},
		Entries: ents(2, f, f+2, 30)}
	if d := diffRecovered(rec, want); d != "" {
		t.Fatalf("Open (-want +got):\n%s", d)
	}
	if got := w.LastIndex(); got != f+2 {
		t.Fatalf("LastIndex() = %d, want %d", got, f+2)
	}
}
