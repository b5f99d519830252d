package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// snapshotChunkBytes is how much of a long field Restore reads at a time,
// so that a corrupt length costs only the bytes actually present.
const snapshotChunkBytes = 1 << 20

// snapReader reads little-endian fields, checksumming them, and keeps the
// first error.
type snapReader struct {
	r       *bufio.Reader
	crc     hash.Hash32
	scratch [8]byte
	err     error
}

func (sr *snapReader) fill(b []byte) {
	if sr.err != nil {
		return
	}
	if _, err := io.ReadFull(sr.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			sr.err = fmt.Errorf("%w: truncated", ErrBadSnapshot)
		} else {
			sr.err = err
		}
		return
	}
	sr.crc.Write(b)
}

// bytes reads n bytes, growing the result chunk by chunk.
func (sr *snapReader) bytes(n int) []byte {
	var out []byte
	for len(out) < n && sr.err == nil {
		chunk := min(n-len(out), snapshotChunkBytes)
		out = append(out, make([]byte, chunk)...)
		sr.fill(out[len(out)-chunk:])
	}
	if sr.err != nil {
		return nil
	}
	return out
}

func (sr *snapReader) u32() uint32 {
	sr.fill(sr.scratch[:4])
	if sr.err != nil {
		return 0
	}
	return binary.LittleEndian.Uint32(sr.scratch[:4])
}

func (sr *snapReader) u64() uint64 {
	sr.fill(sr.scratch[:8])
	if sr.err != nil {
		return 0
	}
	return binary.LittleEndian.Uint64(sr.scratch[:8])
}

func (sr *snapReader) i64() int64 { return int64(sr.u64()) }

func (sr *snapReader) leases(st *restored) error {
	n := sr.u64()
	prev := int64(0)
	for i := uint64(0); i < n && sr.err == nil; i++ {
		l := &lease{id: sr.i64(), ttl: sr.i64(), remainingTTL: sr.i64(), keys: make(map[string]struct{})}
		if sr.err != nil {
			break
		}
		if l.id == 0 || (i > 0 && l.id <= prev) {
			return fmt.Errorf("%w: lease %d: ID %d after %d", ErrBadSnapshot, i, l.id, prev)
		}
		prev = l.id
		st.leases[l.id] = l
	}
	return sr.err
}

func (sr *snapReader) keys(st *restored) error {
	st.keys, st.revs = newKeyTree(), newRevTree()
	n := sr.u64()
	var prevKey []byte
	for i := uint64(0); i < n && sr.err == nil; i++ {
		h, err := sr.history(st)
		if err != nil {
			return err
		}
		if h.key == nil {
			break // read error
		}
		if i > 0 && bytes.Compare(h.key, prevKey) <= 0 {
			return fmt.Errorf("%w: key %q after %q", ErrBadSnapshot, h.key, prevKey)
		}
		prevKey = h.key
		st.keys.ReplaceOrInsert(h)
		for _, r := range h.recs {
			if _, dup := st.revs.ReplaceOrInsert(revEntry{rev: r.rev, key: h.key}); dup {
				return fmt.Errorf("%w: key %q: revision %v used twice", ErrBadSnapshot, h.key, r.rev)
			}
			st.size += recordBytes(h.key, r)
		}
		if last := h.last(); !last.tombstone() && last.lease != 0 {
			l, ok := st.leases[last.lease]
			if !ok {
				return fmt.Errorf("%w: key %q: lease %d does not exist", ErrBadSnapshot, h.key, last.lease)
			}
			l.keys[string(h.key)] = struct{}{}
		}
	}
	return sr.err
}

// history reads and checks one key's history. It returns a zero history on
// a read error, left in sr.err.
func (sr *snapReader) history(st *restored) (keyHistory, error) {
	key := sr.bytes(int(sr.u32()))
	nrec := sr.u32()
	if sr.err != nil {
		return keyHistory{}, nil
	}
	if len(key) == 0 || nrec == 0 {
		return keyHistory{}, fmt.Errorf("%w: key %q with %d records", ErrBadSnapshot, key, nrec)
	}
	h := keyHistory{key: key, recs: make([]record, 0, min(nrec, 1024))}
	compacted := 0
	for j := uint32(0); j < nrec && sr.err == nil; j++ {
		r := record{rev: revision{main: sr.i64(), sub: sr.i64()}, create: sr.i64(), version: sr.i64(), lease: sr.i64()}
		r.value = sr.bytes(int(sr.u32()))
		if sr.err != nil {
			return keyHistory{}, nil
		}
		if err := checkRecord(r, st.rev); err != nil {
			return keyHistory{}, fmt.Errorf("%w: key %q: record %d: %w", ErrBadSnapshot, key, j, err)
		}
		if j > 0 && compareRevision(h.recs[j-1].rev, r.rev) >= 0 {
			return keyHistory{}, fmt.Errorf("%w: key %q: revision %v after %v", ErrBadSnapshot, key, r.rev, h.recs[j-1].rev)
		}
		if r.rev.main <= st.compactRev {
			compacted++
			if compacted > 1 || r.tombstone() {
				return keyHistory{}, fmt.Errorf("%w: key %q: record %v survives compaction at %d", ErrBadSnapshot, key, r.rev, st.compactRev)
			}
		}
		h.recs = append(h.recs, r)
	}
	if sr.err != nil {
		return keyHistory{}, nil
	}
	return h, nil
}

// checkRecord checks one record on its own against the snapshot revision.
func checkRecord(r record, rev int64) error {
	switch {
	case r.rev.main < 2 || r.rev.main > rev || r.rev.sub < 0:
		return fmt.Errorf("revision %v outside [2, %d]", r.rev, rev)
	case r.version < 0:
		return fmt.Errorf("version %d", r.version)
	case r.tombstone() && (r.create != 0 || r.lease != 0 || len(r.value) != 0):
		return fmt.Errorf("tombstone with create %d, lease %d, %d value bytes", r.create, r.lease, len(r.value))
	case !r.tombstone() && (r.create < 2 || r.create > r.rev.main):
		return fmt.Errorf("create revision %d, mod revision %d", r.create, r.rev.main)
	}
	return nil
}
