package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/ironraft/ironraft/vfs"
)

const (
	// segmentMagic opens every segment file.
	segmentMagic = "IRONWAL\n"
	// formatVersion is the version of the segment and record format.
	formatVersion = 1
	// segmentHeaderBytes is the size of a segment header: magic, u32 version,
	// u64 cluster ID, u64 node ID, u64 sequence, u64 first index, u32 CRC32C
	// of the preceding bytes.
	segmentHeaderBytes = 8 + 4 + 8 + 8 + 8 + 8 + 4
	segmentSuffix      = ".wal"
	tmpSuffix          = ".tmp"
)

// segmentHeader is the decoded header of a segment file.
type segmentHeader struct {
	meta  Meta
	seq   uint64 // position in the sequence of segments, from 0
	first uint64 // index the next entry had when the segment was created
}

func segmentName(seq, first uint64) string {
	return fmt.Sprintf("%016x-%016x%s", seq, first, segmentSuffix)
}

// parseSegmentName parses a name made by segmentName.
func parseSegmentName(name string) (seq, first uint64, ok bool) {
	base, found := strings.CutSuffix(name, segmentSuffix)
	if !found || len(base) != 33 || base[16] != '-' {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(base, "%016x-%016x", &seq, &first); err != nil {
		return 0, 0, false
	}
	return seq, first, segmentName(seq, first) == name
}

func appendSegmentHeader(b []byte, h segmentHeader) []byte {
	start := len(b)
	b = append(b, segmentMagic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint64(b, h.meta.ClusterID)
	b = binary.LittleEndian.AppendUint64(b, h.meta.NodeID)
	b = binary.LittleEndian.AppendUint64(b, h.seq)
	b = binary.LittleEndian.AppendUint64(b, h.first)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], crcTable))
}

// decodeSegmentHeader decodes the header at the start of b; the error is a
// reason for a CorruptionError.
func decodeSegmentHeader(b []byte) (segmentHeader, error) {
	if len(b) < segmentHeaderBytes {
		return segmentHeader{}, fmt.Errorf("truncated header: %d bytes, want %d", len(b), segmentHeaderBytes)
	}
	if string(b[:8]) != segmentMagic {
		return segmentHeader{}, fmt.Errorf("bad magic %q, want %q", b[:8], segmentMagic)
	}
	body := b[:segmentHeaderBytes-4]
	if got, want := binary.LittleEndian.Uint32(b[segmentHeaderBytes-4:]), crc32.Checksum(body, crcTable); got != want {
		return segmentHeader{}, fmt.Errorf("header checksum %08x, want %08x", got, want)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return segmentHeader{}, fmt.Errorf("format version %d, this build reads version %d", v, formatVersion)
	}
	return segmentHeader{
		meta:  Meta{ClusterID: binary.LittleEndian.Uint64(b[12:]), NodeID: binary.LittleEndian.Uint64(b[20:])},
		seq:   binary.LittleEndian.Uint64(b[28:]),
		first: binary.LittleEndian.Uint64(b[36:]),
	}, nil
}

// scanResult says where the valid records of a segment end.
type scanResult struct {
	// end is the offset just past the last valid record.
	end int64
	// dirtyEnd is the offset just past the last non-zero byte at or after
	// end: a torn tail occupies [end, dirtyEnd). dirtyEnd == end when the
	// records end cleanly.
	dirtyEnd int64
}

// scanRecords calls fn for each valid record of a segment's data, starting
// after the header. In the last segment (last), the first bad record starts
// a torn tail if no valid record follows it anywhere; otherwise, and in any
// other segment, it is a CorruptionError. In a non-last segment a zero length
// ends the records and everything after it must be zero. scanRecords never
// panics on arbitrary data.
func scanRecords(name string, data []byte, last bool, fn func(off int64, typ byte, payload []byte) error) (scanResult, error) {
	off := segmentHeaderBytes
	for off < len(data) {
		typ, payload, n, err := decodeFrame(data[off:])
		if err == nil {
			if err := fn(int64(off), typ, payload); err != nil {
				return scanResult{}, &CorruptionError{Segment: name, Offset: int64(off), Reason: err.Error()}
			}
			off += n
			continue
		}
		dirty := lastNonZero(data, off)
		if dirty == off { // only zeros (or nothing) follow: a clean end
			return scanResult{end: int64(off), dirtyEnd: int64(off)}, nil
		}
		if !last {
			reason := err.Error()
			if err == errEnd {
				reason = fmt.Sprintf("zero length, but non-zero bytes follow up to offset %d", dirty)
			}
			return scanResult{}, &CorruptionError{Segment: name, Offset: int64(off), Reason: reason}
		}
		if v := nextValidFrame(data, off+1); v >= 0 {
			return scanResult{}, &CorruptionError{Segment: name, Offset: int64(off),
				Reason: fmt.Sprintf("%v, but a valid record follows at offset %d", err, v)}
		}
		return scanResult{end: int64(off), dirtyEnd: int64(dirty)}, nil
	}
	return scanResult{end: int64(off), dirtyEnd: int64(off)}, nil
}

// lastNonZero returns the offset just past the last non-zero byte of data at
// or after from, or from if there is none.
func lastNonZero(data []byte, from int) int {
	for i := len(data) - 1; i >= from; i-- {
		if data[i] != 0 {
			return i + 1
		}
	}
	return from
}

// nextValidFrame returns the offset of the first valid record that starts
// at or after from, or -1.
func nextValidFrame(data []byte, from int) int {
	for p := from; p+frameHeaderBytes < len(data); p++ {
		l := binary.LittleEndian.Uint32(data[p:])
		if l == 0 || l > maxRecordBytes || uint64(l) > uint64(len(data)-p-frameHeaderBytes) {
			continue
		}
		if t := data[p+4]; t < recEntries || t > recTruncate {
			continue
		}
		if _, _, _, err := decodeFrame(data[p:]); err == nil {
			return p
		}
	}
	return -1
}

// readFile reads all of name.
func readFile(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	data := make([]byte, st.Size())
	n, err := f.ReadAt(data, 0)
	if err != nil && err != io.EOF {
		return nil, err
	}
	return data[:n], nil
}
