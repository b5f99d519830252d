package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/ironraft/ironraft/raftpb"
)

// Record types. The zero type never appears in a valid record.
const (
	recEntries   byte = 1 // a batch of consecutive entries
	recHardState byte = 2 // the hard state (term, vote, commit)
	recSnapshot  byte = 3 // snapshot marker: a snapshot at (index, term) is durable
	recTruncate  byte = 4 // entries at index >= the given index are discarded
)

const (
	// frameHeaderBytes is the size of a record's frame: u32 payload length,
	// u8 type, u32 CRC32C of type and payload.
	frameHeaderBytes = 9
	// maxRecordBytes caps a record's payload, so that a corrupt length never
	// makes recovery allocate or read gigabytes.
	maxRecordBytes = 64 << 20
	// maxBatchPayloadBytes is the size beyond which Save splits entries into
	// several records (a single entry may still be up to maxEntryBytes).
	maxBatchPayloadBytes = 1 << 20
	// maxEntryBytes caps one entry's data, so an entry always fits a record.
	maxEntryBytes = maxRecordBytes - 64
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Frame decoding outcomes other than success. They are internal: the segment
// scanner turns them into a torn tail or a CorruptionError.
var (
	errEnd       = errors.New("zero length: end of records")
	errShort     = errors.New("record extends past the end of the data")
	errBadLength = errors.New("record length exceeds the limit")
	errBadType   = errors.New("unknown record type")
	errChecksum  = errors.New("checksum mismatch")
)

// appendFrame appends a record of type typ whose payload was built by
// payload (which appends to its argument) to b.
func appendFrame(b []byte, typ byte, payload func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, frameHeaderBytes)...)
	b = payload(b)
	n := len(b) - start - frameHeaderBytes
	if n > maxRecordBytes {
		panic(fmt.Sprintf("wal: record payload of %d bytes exceeds the %d-byte limit", n, maxRecordBytes))
	}
	binary.LittleEndian.PutUint32(b[start:], uint32(n))
	b[start+4] = typ
	crc := crc32.Update(0, crcTable, b[start+4:start+5])
	crc = crc32.Update(crc, crcTable, b[start+frameHeaderBytes:])
	binary.LittleEndian.PutUint32(b[start+5:], crc)
	return b
}

// decodeFrame decodes the record at the start of b and returns its type, its
// payload (aliasing b) and its total size. It never panics and never
// allocates.
func decodeFrame(b []byte) (typ byte, payload []byte, n int, err error) {
	if len(b) < 4 {
		if allZero(b) {
			return 0, nil, 0, errEnd
		}
		return 0, nil, 0, errShort
	}
	length := binary.LittleEndian.Uint32(b)
	if length == 0 {
		return 0, nil, 0, errEnd
	}
	if length > maxRecordBytes {
		return 0, nil, 0, errBadLength
	}
	if len(b) < frameHeaderBytes || uint64(len(b)-frameHeaderBytes) < uint64(length) {
		return 0, nil, 0, errShort
	}
	typ = b[4]
	n = frameHeaderBytes + int(length)
	payload = b[frameHeaderBytes:n]
	crc := crc32.Update(0, crcTable, b[4:5])
	crc = crc32.Update(crc, crcTable, payload)
	if crc != binary.LittleEndian.Uint32(b[5:]) {
		return 0, nil, 0, errChecksum
	}
	if typ < recEntries || typ > recTruncate {
		return 0, nil, 0, errBadType
	}
	return typ, payload, n, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func entryBytes(e *raftpb.Entry) int {
	return 3*binary.MaxVarintLen64 + len(e.GetData())
}

// appendEntries encodes a batch of consecutive entries: uvarint first index,
// uvarint count, then for each entry uvarint term, uvarint type, uvarint data
// length and the data. Indexes are implied by the first index.
func appendEntries(b []byte, ents []*raftpb.Entry) []byte {
	b = binary.AppendUvarint(b, ents[0].GetIndex())
	b = binary.AppendUvarint(b, uint64(len(ents)))
	for _, e := range ents {
		b = binary.AppendUvarint(b, e.GetTerm())
		b = binary.AppendUvarint(b, uint64(e.GetType()))
		b = binary.AppendUvarint(b, uint64(len(e.GetData())))
		b = append(b, e.GetData()...)
	}
	return b
}

// payloadReader decodes uvarints and byte strings from a payload, keeping
// the first error.
type payloadReader struct {
	b   []byte
	err error
}

func (r *payloadReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *payloadReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = fmt.Errorf("%d-byte field exceeds the %d bytes left", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// done returns the first error, or an error if bytes are left over.
func (r *payloadReader) done() error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	return r.err
}

// decodeEntries decodes an entry-batch payload. The entries' data are
// copies, so they do not alias the payload.
func decodeEntries(p []byte) ([]*raftpb.Entry, error) {
	r := payloadReader{b: p}
	first := r.uvarint()
	count := r.uvarint()
	if r.err != nil {
		return nil, fmt.Errorf("entry batch: %w", r.err)
	}
	// Each entry takes at least 3 bytes, so count is bounded by the payload.
	if first == 0 || count == 0 || count > uint64(len(r.b))/3 || first > math.MaxUint64-count {
		return nil, fmt.Errorf("entry batch: bad first index %d or count %d for %d bytes", first, count, len(r.b))
	}
	ents := make([]*raftpb.Entry, count)
	for i := range ents {
		term := r.uvarint()
		typ := r.uvarint()
		data := r.bytes(r.uvarint())
		if r.err != nil {
			return nil, fmt.Errorf("entry batch: entry %d: %w", first+uint64(i), r.err)
		}
		if typ > math.MaxInt32 {
			return nil, fmt.Errorf("entry batch: entry %d: bad type %d", first+uint64(i), typ)
		}
		e := &raftpb.Entry{Term: term, Index: first + uint64(i), Type: raftpb.EntryType(typ)}
		if len(data) > 0 {
			e.Data = append([]byte(nil), data...)
		}
		ents[i] = e
	}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("entry batch: %w", err)
	}
	return ents, nil
}

func appendHardState(b []byte, hs *raftpb.HardState) []byte {
	b = binary.AppendUvarint(b, hs.GetTerm())
	b = binary.AppendUvarint(b, hs.GetVote())
	return binary.AppendUvarint(b, hs.GetCommit())
}

func decodeHardState(p []byte) (*raftpb.HardState, error) {
	r := payloadReader{b: p}
	hs := &raftpb.HardState{Term: r.uvarint(), Vote: r.uvarint(), Commit: r.uvarint()}
	if err := r.done(); err != nil {
		return nil, fmt.Errorf("hard state: %w", err)
	}
	return hs, nil
}

// SnapshotMarker says that a snapshot covering the log up to Index (whose
// entry has Term) is durable elsewhere (in the snap package's store).
type SnapshotMarker struct {
	Index, Term uint64
}

func appendSnapshot(b []byte, m SnapshotMarker) []byte {
	b = binary.AppendUvarint(b, m.Index)
	return binary.AppendUvarint(b, m.Term)
}

func decodeSnapshot(p []byte) (SnapshotMarker, error) {
	r := payloadReader{b: p}
	m := SnapshotMarker{Index: r.uvarint(), Term: r.uvarint()}
	if err := r.done(); err != nil {
		return SnapshotMarker{}, fmt.Errorf("snapshot marker: %w", err)
	}
	return m, nil
}

func appendTruncate(b []byte, index uint64) []byte {
	return binary.AppendUvarint(b, index)
}

func decodeTruncate(p []byte) (uint64, error) {
	r := payloadReader{b: p}
	i := r.uvarint()
	if err := r.done(); err != nil {
		return 0, fmt.Errorf("truncation: %w", err)
	}
	if i == 0 {
		return 0, errors.New("truncation: index 0")
	}
	return i, nil
}
