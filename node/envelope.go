package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
)

// Entry payloads
//
// Every normal entry the runtime proposes carries an envelope, so that the
// member that proposed it can match it when it applies it:
//
//	byte     envelopeVersion (1)
//	uvarint  origin node ID
//	uvarint  proposal ID (unique per origin incarnation, never 0)
//	bytes    the command
//
// Empty entries are the leaders' no-ops. A configuration change carries the
// same header (without the command) in ConfChange.Context, followed by the
// address of the node it adds:
//
//	byte     envelopeVersion
//	uvarint  origin, uvarint proposal ID
//	uvarint  address length, address bytes

const envelopeVersion = 1

// errEnvelope reports a log entry whose payload the runtime did not write:
// the log is corrupt or was written by something else.
var errEnvelope = errors.New("node: malformed entry envelope")

// envelope is a decoded entry payload.
type envelope struct {
	origin, pid uint64
	cmd         []byte
}

func encodeEnvelope(origin, pid uint64, cmd []byte) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(cmd))
	b = append(b, envelopeVersion)
	b = binary.AppendUvarint(b, origin)
	b = binary.AppendUvarint(b, pid)
	return append(b, cmd...)
}

func decodeEnvelope(b []byte) (envelope, error) {
	if len(b) == 0 || b[0] != envelopeVersion {
		return envelope{}, errEnvelope
	}
	b = b[1:]
	origin, n := binary.Uvarint(b)
	if n <= 0 {
		return envelope{}, errEnvelope
	}
	b = b[n:]
	pid, n := binary.Uvarint(b)
	if n <= 0 {
		return envelope{}, errEnvelope
	}
	return envelope{origin: origin, pid: pid, cmd: b[n:]}, nil
}

func encodeConfContext(origin, pid uint64, addr string) []byte {
	b := encodeEnvelope(origin, pid, nil)
	b = binary.AppendUvarint(b, uint64(len(addr)))
	return append(b, addr...)
}

func decodeConfContext(b []byte) (origin, pid uint64, addr string, err error) {
	env, err := decodeEnvelope(b)
	if err != nil {
		return 0, 0, "", err
	}
	rest := env.cmd
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > uint64(len(rest)-k) {
		return 0, 0, "", errEnvelope
	}
	return env.origin, env.pid, string(rest[k : k+int(n)]), nil
}

// Snapshot payloads
//
// The data of every snapshot the runtime makes is
//
//	[4]byte  "IRSN"
//	byte     snapshotVersion (1)
//	uvarint  number of members in the address book
//	         for each, ordered by ID: uvarint ID, uvarint length, address
//	uint32   CRC-32C (Castagnoli) of everything above, big endian
//	bytes    the state machine's snapshot, to the end
//
// so that a node that installs a snapshot learns how to reach the members
// it names. The bootstrap snapshot (index 0) has the header only.

const snapshotVersion = 1

var snapMagic = []byte("IRSN")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxBookEntries bounds the address book a snapshot header may claim, so a
// corrupt count cannot make the decoder allocate without limit.
const maxBookEntries = 1 << 16

func encodeSnapshotHeader(book map[uint64]string) []byte {
	ids := make([]uint64, 0, len(book))
	for id := range book {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b := append([]byte{}, snapMagic...)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, uint64(len(book[id])))
		b = append(b, book[id]...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSnapshotHeader splits snapshot data into the address book and the
// state machine's part. Empty data (a snapshot made by something else than
// the runtime is refused, but an empty one is an empty book and state).
func decodeSnapshotHeader(data []byte) (map[uint64]string, []byte, error) {
	book := map[uint64]string{}
	if len(data) == 0 {
		return book, nil, nil
	}
	bad := func(why string) error { return fmt.Errorf("node: snapshot header: %s", why) }
	if len(data) < len(snapMagic)+1 || string(data[:len(snapMagic)]) != string(snapMagic) {
		return nil, nil, bad("bad magic")
	}
	if v := data[len(snapMagic)]; v != snapshotVersion {
		return nil, nil, bad(fmt.Sprintf("unknown version %d", v))
	}
	b := data[len(snapMagic)+1:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > maxBookEntries {
		return nil, nil, bad("bad member count")
	}
	b = b[n:]
	for range count {
		id, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, nil, bad("truncated member ID")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return nil, nil, bad("truncated address")
		}
		book[id] = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) < 4 {
		return nil, nil, bad("truncated checksum")
	}
	hdr := len(data) - len(b)
	if got, want := binary.BigEndian.Uint32(b), crc32.Checksum(data[:hdr], castagnoli); got != want {
		return nil, nil, bad(fmt.Sprintf("checksum %08x, want %08x", got, want))
	}
	return book, b[4:], nil
}
