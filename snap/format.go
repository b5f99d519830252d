package snap

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

const (
	// magic starts every snapshot file.
	magic = "ironsnap"
	// formatVersion is the only version this code reads and writes.
	formatVersion = 1
	// headerSize is the fixed part before the configuration.
	headerSize = 40
	// trailerSize is the checksum after the data.
	trailerSize = 4
	// maxConfBytes bounds the encoded configuration: far more than any
	// real cluster's member list, small enough to reject nonsense.
	maxConfBytes = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encode returns the file contents for s; see the package doc.
func encode(s *raftpb.Snapshot) ([]byte, error) {
	md := s.GetMetadata()
	conf, err := proto.MarshalOptions{Deterministic: true}.Marshal(md.GetConfState())
	if err != nil {
		return nil, fmt.Errorf("snap: encode configuration: %w", err)
	}
	if len(conf) > maxConfBytes {
		return nil, fmt.Errorf("snap: configuration is %d bytes, limit %d", len(conf), maxConfBytes)
	}
	data := s.GetData()
	b := make([]byte, headerSize, headerSize+len(conf)+len(data)+trailerSize)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[8:], formatVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(len(conf)))
	binary.LittleEndian.PutUint64(b[16:], md.GetTerm())
	binary.LittleEndian.PutUint64(b[24:], md.GetIndex())
	binary.LittleEndian.PutUint64(b[32:], uint64(len(data)))
	b = append(b, conf...)
	b = append(b, data...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// decode parses the contents b of file. It never panics; every problem with
// b is a *CorruptError.
func decode(file string, b []byte) (*raftpb.Snapshot, error) {
	corrupt := func(format string, args ...any) error {
		return &CorruptError{File: file, Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) < headerSize+trailerSize {
		return nil, corrupt("truncated: %d bytes, shorter than the %d-byte header and checksum", len(b), headerSize+trailerSize)
	}
	if !bytes.Equal(b[:8], []byte(magic)) {
		return nil, corrupt("bad magic %q, want %q", b[:8], magic)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return nil, corrupt("unsupported format version %d, want %d", v, formatVersion)
	}
	confLen := uint64(binary.LittleEndian.Uint32(b[12:]))
	term := binary.LittleEndian.Uint64(b[16:])
	index := binary.LittleEndian.Uint64(b[24:])
	dataLen := binary.LittleEndian.Uint64(b[32:])
	if confLen > maxConfBytes {
		return nil, corrupt("configuration length %d exceeds the limit %d", confLen, maxConfBytes)
	}
	size := uint64(len(b))
	// dataLen <= size keeps the sum below from overflowing.
	if dataLen > size || headerSize+confLen+dataLen+trailerSize != size {
		return nil, corrupt("size %d bytes, header says %d-byte configuration and %d-byte data (%d bytes in all)",
			size, confLen, dataLen, uint64(headerSize+trailerSize)+confLen+dataLen)
	}
	body := b[:size-trailerSize]
	stored := binary.LittleEndian.Uint32(b[size-trailerSize:])
	if got := crc32.Checksum(body, castagnoli); got != stored {
		return nil, corrupt("checksum mismatch: stored %#08x, computed %#08x", stored, got)
	}
	cs := &raftpb.ConfState{}
	if err := proto.Unmarshal(body[headerSize:headerSize+confLen], cs); err != nil {
		return nil, corrupt("configuration does not decode: %v", err)
	}
	return &raftpb.Snapshot{
		Data:     bytes.Clone(body[headerSize+confLen:]),
		Metadata: &raftpb.SnapshotMetadata{ConfState: cs, Index: index, Term: term},
	}, nil
}
