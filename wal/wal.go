package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// Meta identifies the node a WAL belongs to. Every segment header carries it
// and Open refuses segments of another cluster or node.
type Meta struct {
	ClusterID uint64
	NodeID    uint64
}

// DefaultSegmentBytes is the default preallocated size of a segment.
const DefaultSegmentBytes = 64 << 20

// minSegmentBytes keeps segments large enough for the header and the
// records carried into every new segment.
const minSegmentBytes = 4096

// Options configures a WAL. The zero value is valid: defaults are applied by
// Create and Open.
type Options struct {
	// SegmentBytes is the size each segment is preallocated to; a segment is
	// cut when the next write would not fit (a single larger write still
	// goes into one segment, which then grows beyond it). Default
	// DefaultSegmentBytes; at least 4096.
	SegmentBytes int64
	// RecoverBytes bounds the entries Open keeps in memory while it replays
	// the segments and returns in Recovered.Entries: if positive, only the
	// newest entries after the snapshot marker whose
	// raftpb.Entry.PayloadSize sum is at most RecoverBytes (possibly none);
	// the older ones can be read with ReadEntries. 0 (the default): every
	// entry after the marker. Not negative.
	RecoverBytes int64
	// Logger receives the WAL's few log lines (segment cuts at debug, torn
	// tails repaired at warn, the failure at error). Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports every problem with o, without changing it.
func (o Options) Validate() error {
	var errs []error
	if o.SegmentBytes != 0 && o.SegmentBytes < minSegmentBytes {
		errs = append(errs, fmt.Errorf("wal: SegmentBytes = %d, want 0 (default) or at least %d", o.SegmentBytes, minSegmentBytes))
	}
	if o.RecoverBytes < 0 {
		errs = append(errs, fmt.Errorf("wal: RecoverBytes = %d, want 0 (every entry) or positive", o.RecoverBytes))
	}
	return errors.Join(errs...)
}

func (m Meta) validate() error {
	if m.NodeID == 0 {
		return fmt.Errorf("wal: node ID 0 in meta %+v, want non-zero", m)
	}
	return nil
}

// segment is one segment file.
type segment struct {
	seq   uint64
	first uint64
}

func (s segment) name() string { return segmentName(s.seq, s.first) }

// WAL is an open write-ahead log. Its methods are safe for concurrent use;
// concurrent Save calls that sync are group-committed: writes are made in
// the order the calls take the lock, and one fsync covers every write made
// before it started, so while one fsync is in flight the batches that arrive
// queue behind it and share the next one (leader-follower on a condition
// variable; the WAL starts no goroutine).
type WAL struct {
	fs   vfs.FS
	dir  string
	meta Meta
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	// synced is signalled (Broadcast) when an fsync finishes or the WAL fails.
	synced *sync.Cond

	f    vfs.File  // the last segment, open for writing
	segs []segment // every segment, by sequence; the last is f
	off  int64     // where the next record goes in f
	// prefixEnd is where f's header and carried records end: a segment
	// holding nothing more is not cut, however large the write.
	prefixEnd int64
	st        logState

	// Invariant: syncedGen <= writtenGen. A write increments writtenGen; an
	// fsync that started when writtenGen was g sets syncedGen to g.
	writtenGen, syncedGen uint64
	syncing               bool   // an fsync runs outside mu
	fsyncs                uint64 // fsyncs of segments run, for benchmarks
	failed                error  // set once, by fail; wraps ErrFailed
	closed                bool
	buf                   []byte
	// retired are full segments still open because an fsync on one of them
	// was in flight when the next segment was cut.
	retired []vfs.File
}

// Create creates a new WAL in dir (made if needed): one empty segment with
// sequence 0 and first index 1, synced along with its directory.
func Create(fs vfs.FS, dir string, meta Meta, opts Options) (*WAL, error) {
	if err := errors.Join(meta.validate(), opts.Validate()); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	if err := fs.SyncDir(path.Dir(dir)); err != nil {
		return nil, fmt.Errorf("wal: sync the parent of %s: %w", dir, err)
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: create %s: %w", dir, err)
	}
	for _, n := range names {
		if _, _, ok := parseSegmentName(n); ok {
			return nil, fmt.Errorf("wal: create %s: %w (segment %s)", dir, ErrExist, n)
		}
	}
	w := newWAL(fs, dir, meta, opts)
	if err := w.removeTemps(names); err != nil {
		return nil, err
	}
	if err := w.cut(segment{seq: 0, first: 1}); err != nil {
		return nil, err
	}
	return w, nil
}

func newWAL(fs vfs.FS, dir string, meta Meta, opts Options) *WAL {
	w := &WAL{fs: fs, dir: dir, meta: meta, opts: opts,
		log: opts.Logger.With("node", meta.NodeID, "dir", dir)}
	w.synced = sync.NewCond(&w.mu)
	w.st.first = 1
	return w
}

// removeTemps removes segments a crash left half-made.
func (w *WAL) removeTemps(names []string) error {
	for _, n := range names {
		if strings.HasSuffix(n, segmentSuffix+tmpSuffix) {
			if err := w.fs.Remove(w.fs.Join(w.dir, n)); err != nil {
				return fmt.Errorf("wal: remove unfinished segment: %w", err)
			}
		}
	}
	return nil
}

// usable returns the error every call returns once the WAL is closed or
// failed.
func (w *WAL) usable() error {
	if w.failed != nil {
		return w.failed
	}
	if w.closed {
		return ErrClosed
	}
	return nil
}

// fail records the WAL's first fatal error (of operation op on segment
// name), logs it once and wakes every waiter. It returns the failed error.
func (w *WAL) fail(op, name string, err error) error {
	if w.failed == nil {
		w.failed = fmt.Errorf("%w: %s %s: %w", ErrFailed, op, name, err)
		w.log.Error("wal failed; the node must stop", "op", op, "segment", name, "err", err)
		w.synced.Broadcast()
	}
	return w.failed
}

// Save appends ents and then hs (if not nil and changed) and, if sync is
// true, returns only once they are durable. If ents[0].Index is at or below
// the last index, a truncation record first discards the entries from
// ents[0].Index on (which must be above the snapshot marker). ents must be
// consecutive. After a write or fsync error the WAL is failed: Save returns
// an error wrapping ErrFailed, now and forever.
func (w *WAL) Save(hs *raftpb.HardState, ents []*raftpb.Entry, sync bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.checkEntries(ents); err != nil {
		return err
	}
	newHS := w.st.hs
	if hs != nil {
		newHS = hardState{hs.GetTerm(), hs.GetVote(), hs.GetCommit()}
	}
	if len(ents) == 0 && newHS == w.st.hs {
		if sync {
			return w.waitSynced(w.writtenGen)
		}
		return nil
	}
	w.buf = w.buf[:0]
	var truncateAt uint64
	if len(ents) > 0 && ents[0].GetIndex() < w.st.next() {
		truncateAt = ents[0].GetIndex()
		w.buf = appendFrame(w.buf, recTruncate, func(b []byte) []byte { return appendTruncate(b, truncateAt) })
	}
	batches := w.appendBatches(ents)
	if newHS != w.st.hs {
		w.buf = appendFrame(w.buf, recHardState, func(b []byte) []byte { return appendHardState(b, newHS.proto()) })
	}
	off, err := w.write(w.buf)
	if err != nil {
		return err
	}
	if truncateAt != 0 {
		w.st.truncate(truncateAt)
	}
	seq := w.segs[len(w.segs)-1].seq
	for i, e := range ents {
		w.st.append(entryPos{term: e.GetTerm(), seq: seq, off: off + batches[i]}, nil)
	}
	w.st.hs = newHS
	if sync {
		return w.waitSynced(w.writtenGen)
	}
	return nil
}

// checkEntries checks that ents are consecutive and may follow the log.
func (w *WAL) checkEntries(ents []*raftpb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	for i, e := range ents {
		if e.GetIndex() != ents[0].GetIndex()+uint64(i) {
			return fmt.Errorf("wal: save: entry %d has index %d, want %d (entries must be consecutive)", i, e.GetIndex(), ents[0].GetIndex()+uint64(i))
		}
		if len(e.GetData()) > maxEntryBytes {
			return fmt.Errorf("wal: save: entry %d has %d bytes of data, more than the limit of %d", e.GetIndex(), len(e.GetData()), maxEntryBytes)
		}
	}
	first := ents[0].GetIndex()
	if first < w.st.next() {
		if err := w.st.checkTruncate(first); err != nil {
			return fmt.Errorf("wal: save: %w", err)
		}
		return nil
	}
	if err := w.st.checkAppend(first); err != nil {
		return fmt.Errorf("wal: save: %w", err)
	}
	return nil
}

// appendBatches appends ents to w.buf as entry batch records of at most
// about maxBatchPayloadBytes each, and returns for each entry the offset of
// its record in w.buf.
func (w *WAL) appendBatches(ents []*raftpb.Entry) []int64 {
	offs := make([]int64, len(ents))
	for len(ents) > 0 {
		n, size := 1, entryBytes(ents[0])
		for n < len(ents) && size+entryBytes(ents[n]) <= maxBatchPayloadBytes {
			size += entryBytes(ents[n])
			n++
		}
		start := int64(len(w.buf))
		batch := ents[:n]
		w.buf = appendFrame(w.buf, recEntries, func(b []byte) []byte { return appendEntries(b, batch) })
		for i := range batch {
			offs[len(offs)-len(ents)+i] = start
		}
		ents = ents[n:]
	}
	return offs
}

// write writes b (whole records) at the end of the last segment, cutting a
// new segment first if b does not fit, and returns the offset it was written
// at. A failed write fails the WAL: what reached the disk is unknown.
func (w *WAL) write(b []byte) (int64, error) {
	if w.off+int64(len(b)) > w.opts.SegmentBytes && w.off > w.prefixEnd {
		last := w.segs[len(w.segs)-1]
		if err := w.cut(segment{seq: last.seq + 1, first: w.st.next()}); err != nil {
			return 0, err
		}
	}
	off := w.off
	if _, err := w.f.WriteAt(b, off); err != nil {
		return 0, w.fail("write", w.f.Name(), err)
	}
	w.off += int64(len(b))
	w.writtenGen++
	return off, nil
}

// newSegmentPrefix appends to b the header of s and the records every
// segment starts with: the current snapshot marker and hard state, so that
// compaction never removes the only copy of either.
func (w *WAL) newSegmentPrefix(s segment, b []byte) []byte {
	b = appendSegmentHeader(b, segmentHeader{meta: w.meta, seq: s.seq, first: s.first})
	if w.st.marker != (SnapshotMarker{}) {
		b = appendFrame(b, recSnapshot, func(b []byte) []byte { return appendSnapshot(b, w.st.marker) })
	}
	if w.st.hs != (hardState{}) {
		b = appendFrame(b, recHardState, func(b []byte) []byte { return appendHardState(b, w.st.hs.proto()) })
	}
	return b
}

// cut syncs the current segment (if any) and starts segment s: written as a
// temporary file, synced, renamed into place and its directory synced, so a
// segment under its final name always has a whole header. Any error fails
// the WAL. The old segment is closed at once, or, if an fsync on it is in
// flight, by the goroutine running that fsync when it returns.
func (w *WAL) cut(s segment) error {
	if w.f != nil {
		w.fsyncs++
		if err := w.f.Sync(); err != nil {
			return w.fail("fsync", w.f.Name(), err)
		}
	}
	final := w.fs.Join(w.dir, s.name())
	tmp := final + tmpSuffix
	prefix := w.newSegmentPrefix(s, nil)
	f, err := w.fs.Create(tmp)
	if err != nil {
		return w.fail("create", tmp, err)
	}
	err = w.initSegment(f, prefix)
	if err == nil {
		err = w.fs.Rename(tmp, final)
	}
	if err == nil {
		err = w.fs.SyncDir(w.dir)
	}
	if err != nil {
		f.Close()
		return w.fail("create segment", final, err)
	}
	if w.f != nil {
		w.retired = append(w.retired, w.f)
		if !w.syncing {
			w.closeRetired()
		}
	}
	w.f, w.off, w.prefixEnd = f, int64(len(prefix)), int64(len(prefix))
	w.segs = append(w.segs, s)
	w.syncedGen = w.writtenGen
	w.log.Debug("wal: new segment", "segment", s.name())
	return nil
}

func (w *WAL) initSegment(f vfs.File, prefix []byte) error {
	if _, err := f.WriteAt(prefix, 0); err != nil {
		return err
	}
	if err := f.Preallocate(0, w.opts.SegmentBytes); err != nil {
		return err
	}
	return f.Sync()
}

// waitSynced returns once every write up to generation gen is durable.
// Called with mu held; the caller that finds no fsync in flight runs one
// (outside mu) for everything written so far, and the others wait for it.
func (w *WAL) waitSynced(gen uint64) error {
	for w.syncedGen < gen {
		if err := w.usable(); err != nil {
			return err
		}
		if w.syncing {
			w.synced.Wait()
			continue
		}
		w.syncing = true
		w.fsyncs++
		target, f := w.writtenGen, w.f
		w.mu.Unlock()
		err := f.Sync()
		w.mu.Lock()
		w.syncing = false
		w.closeRetired()
		w.synced.Broadcast()
		if err != nil {
			return w.fail("fsync", f.Name(), err)
		}
		w.syncedGen = max(w.syncedGen, target)
	}
	return nil
}

// closeRetired closes the full segments; they were synced by cut, so an
// error closing one loses nothing and is only logged.
func (w *WAL) closeRetired() {
	for _, f := range w.retired {
		if err := f.Close(); err != nil {
			w.log.Warn("wal: close a full segment", "segment", f.Name(), "err", err)
		}
	}
	w.retired = w.retired[:0]
}

// syncCount returns how many segment fsyncs the WAL has run.
func (w *WAL) syncCount() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fsyncs
}
