package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"maps"
	"slices"

	"github.com/google/btree"
)

// snapshotMagic opens every snapshot; snapshotVersion is the format version
// this code writes and reads. The layout is in the package doc.
const (
	snapshotMagic   = "ironkvsn"
	snapshotVersion = 1
)

// ErrBadSnapshot is wrapped by every error Restore returns for input that is
// not a valid snapshot (as opposed to an error from the reader).
var ErrBadSnapshot = errors.New("kv: bad snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Snapshot is a point-in-time view of a Store. Writing it runs
// concurrently with Apply: it holds copy-on-write clones of the store's
// trees, which cost O(1) to take and share every node until Apply changes
// one.
type Snapshot struct {
	applied    uint64
	rev        int64
	compactRev int64
	leases     []LeaseInfo // by ID, without keys
	keys       *btree.BTreeG[keyHistory]
}

// Snapshot returns a view of the store as of the last command applied.
func (s *Store) Snapshot() *Snapshot {
	// Clone updates the tree's copy-on-write context, so it takes the
	// write lock, briefly.
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := &Snapshot{applied: s.applied, rev: s.rev, compactRev: s.compactRev, keys: s.keys.Clone()}
	for _, id := range slices.Sorted(maps.Keys(s.leases)) {
		l := s.leases[id]
		sn.leases = append(sn.leases, LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remainingTTL})
	}
	return sn
}

// AppliedIndex returns the log index of the last command the view covers.
func (sn *Snapshot) AppliedIndex() uint64 { return sn.applied }

// Revision returns the view's revision.
func (sn *Snapshot) Revision() int64 { return sn.rev }

// Release drops the view's references, so the nodes it alone still holds
// can be freed. The view must not be written afterwards.
func (sn *Snapshot) Release() { sn.keys = nil }

// Write writes the view to w in the snapshot format.
func (sn *Snapshot) Write(w io.Writer) error {
	if sn.keys == nil {
		return errors.New("kv: write snapshot: released")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	sw := &snapWriter{w: bw, crc: crc32.New(castagnoli)}
	sw.bytes([]byte(snapshotMagic))
	sw.u32(snapshotVersion)
	sw.u64(sn.applied)
	sw.i64(sn.rev)
	sw.i64(sn.compactRev)
	sw.u64(uint64(len(sn.leases)))
	for _, l := range sn.leases {
		sw.i64(l.ID)
		sw.i64(l.TTL)
		sw.i64(l.RemainingTTL)
	}
	sw.u64(uint64(sn.keys.Len()))
	sn.keys.Ascend(func(h keyHistory) bool {
		sw.u32(uint32(len(h.key)))
		sw.bytes(h.key)
		sw.u32(uint32(len(h.recs)))
		for _, r := range h.recs {
			sw.i64(r.rev.main)
			sw.i64(r.rev.sub)
			sw.i64(r.create)
			sw.i64(r.version)
			sw.i64(r.lease)
			sw.u32(uint32(len(r.value)))
			sw.bytes(r.value)
		}
		return sw.err == nil
	})
	sum := sw.crc.Sum32()
	sw.u32(sum)
	if sw.err != nil {
		return fmt.Errorf("kv: write snapshot: %w", sw.err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("kv: write snapshot: %w", err)
	}
	return nil
}

// snapWriter writes little-endian fields, checksumming them, and keeps the
// first error.
type snapWriter struct {
	w       io.Writer
	crc     hash.Hash32
	scratch [8]byte
	err     error
}

func (sw *snapWriter) bytes(b []byte) {
	if sw.err != nil {
		return
	}
	sw.crc.Write(b)
	_, sw.err = sw.w.Write(b)
}

func (sw *snapWriter) u32(v uint32) {
	binary.LittleEndian.PutUint32(sw.scratch[:4], v)
	sw.bytes(sw.scratch[:4])
}

func (sw *snapWriter) u64(v uint64) {
	binary.LittleEndian.PutUint64(sw.scratch[:8], v)
	sw.bytes(sw.scratch[:8])
}

func (sw *snapWriter) i64(v int64) { sw.u64(uint64(v)) }

// Restore replaces the whole state (keys with their history, revisions,
// leases, applied index) with a snapshot written by Snapshot.Write. The
// input is read and checked in full before anything changes: on error the
// store is as it was. Watchers survive: each catches up from the restored
// history, or gets the compacted response if what it needs is gone.
func (s *Store) Restore(r io.Reader) error {
	st, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("kv: restore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.revs, s.leases = st.keys, st.revs, st.leases
	s.rev, s.compactRev, s.applied, s.sizeBytes = st.rev, st.compactRev, st.applied, st.size
	s.hub.restored(s.rev)
	return nil
}

// restored is a store state read from a snapshot.
type restored struct {
	applied         uint64
	rev, compactRev int64
	leases          map[int64]*lease
	keys            *btree.BTreeG[keyHistory]
	revs            *btree.BTreeG[revEntry]
	size            int64
}

func readSnapshot(r io.Reader) (*restored, error) {
	sr := &snapReader{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli)}
	if magic := sr.bytes(len(snapshotMagic)); sr.err == nil && string(magic) != snapshotMagic {
		return nil, fmt.Errorf("%w: magic %q, want %q", ErrBadSnapshot, magic, snapshotMagic)
	}
	if v := sr.u32(); sr.err == nil && v != snapshotVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", ErrBadSnapshot, v, snapshotVersion)
	}
	st := &restored{applied: sr.u64(), rev: sr.i64(), compactRev: sr.i64(), leases: make(map[int64]*lease)}
	if sr.err == nil && (st.rev < 1 || st.compactRev < -1 || st.compactRev > st.rev) {
		return nil, fmt.Errorf("%w: revision %d, compact revision %d", ErrBadSnapshot, st.rev, st.compactRev)
	}
	if err := sr.leases(st); err != nil {
		return nil, err
	}
	if err := sr.keys(st); err != nil {
		return nil, err
	}
	sum := sr.crc.Sum32()
	if got := sr.u32(); sr.err == nil && got != sum {
		return nil, fmt.Errorf("%w: checksum %#08x, computed %#08x", ErrBadSnapshot, got, sum)
	}
	if sr.err != nil {
		return nil, sr.err
	}
	if _, err := sr.r.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the checksum", ErrBadSnapshot)
	}
	return st, nil
}
