package server

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// The snapshot of an ironkv member is the members section below followed
// by the kv store's snapshot (kv's package doc draws it). All integers are
// little-endian:
//
//	offset  size  field
//	0       8     magic "ironkvsm"
//	8       4     format version, uint32, currently 1
//	12      4     N, the number of member table entries, uint32
//	        ...   N entries in ascending ID order, each:
//	                8  member ID, uint64
//	                1  flags: bit 0 set if the member awaits promotion
//	                s  name
//	                4  P, uint32; then P peer URLs, each a string s
//	                4  C, uint32; then C client URLs, each a string s
//	        4     CRC-32C (Castagnoli) of every byte of the section before it
//	        ...   the kv snapshot
//
// A string s is its length (uint32) and its bytes.
const (
	membersMagic   = "ironkvsm"
	membersVersion = 1
	// Bounds checked when reading, so a bad snapshot cannot make the
	// reader allocate without limit.
	maxSnapshotMembers   = 1 << 16
	maxSnapshotURLs      = 1 << 10
	maxSnapshotStringLen = 1 << 16
)

// errBadSnapshot is wrapped by every error for a members section that is
// not valid.
var errBadSnapshot = errors.New("server: bad snapshot")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func writeMembersSection(w io.Writer, members []memberAttrs) error {
	var b []byte
	b = append(b, membersMagic...)
	b = binary.LittleEndian.AppendUint32(b, membersVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(members)))
	str := func(s string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	strs := func(ss []string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ss)))
		for _, s := range ss {
			str(s)
		}
	}
	for _, m := range members {
		b = binary.LittleEndian.AppendUint64(b, m.id)
		var flags byte
		if m.promote {
			flags |= 1
		}
		b = append(b, flags)
		str(m.name)
		strs(m.peerURLs)
		strs(m.clientURLs)
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("server: write snapshot: %w", err)
	}
	return nil
}

// sectionReader reads the members section, checksumming what it reads and
// keeping the first error.
type sectionReader struct {
	r   *bufio.Reader
	crc uint32
	err error
}

func (sr *sectionReader) read(n int) []byte {
	if sr.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(sr.r, b); err != nil {
		sr.err = fmt.Errorf("%w: members section cut short: %w", errBadSnapshot, err)
		return nil
	}
	sr.crc = crc32.Update(sr.crc, castagnoli, b)
	return b
}

func (sr *sectionReader) u32() uint32 {
	if b := sr.read(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (sr *sectionReader) fail(format string, args ...any) {
	if sr.err == nil {
		sr.err = fmt.Errorf("%w: %s", errBadSnapshot, fmt.Sprintf(format, args...))
	}
}

func (sr *sectionReader) str() string {
	n := sr.u32()
	if n > maxSnapshotStringLen {
		sr.fail("string of %d bytes, limit %d", n, maxSnapshotStringLen)
		return ""
	}
	return string(sr.read(int(n)))
}

func (sr *sectionReader) strs() []string {
	n := sr.u32()
	if n > maxSnapshotURLs {
		sr.fail("%d URLs, limit %d", n, maxSnapshotURLs)
		return nil
	}
	var out []string
	for range n {
		if sr.err != nil {
			return nil
		}
		out = append(out, sr.str())
	}
	return out
}

// readMembersSection reads and checks the members section; r is left at
// the start of the kv snapshot.
func readMembersSection(r *bufio.Reader) ([]memberAttrs, error) {
	sr := &sectionReader{r: r}
	if magic := sr.read(len(membersMagic)); sr.err == nil && string(magic) != membersMagic {
		sr.fail("magic %q, want %q", magic, membersMagic)
	}
	if v := sr.u32(); sr.err == nil && v != membersVersion {
		sr.fail("format version %d, this server reads %d", v, membersVersion)
	}
	n := sr.u32()
	if n > maxSnapshotMembers {
		sr.fail("%d members, limit %d", n, maxSnapshotMembers)
	}
	var members []memberAttrs
	var last uint64
	for i := uint32(0); i < n && sr.err == nil; i++ {
		var m memberAttrs
		if b := sr.read(8); b != nil {
			m.id = binary.LittleEndian.Uint64(b)
		}
		flags := sr.read(1)
		m.name, m.peerURLs, m.clientURLs = sr.str(), sr.strs(), sr.strs()
		if sr.err != nil {
			break
		}
		if m.id <= last || flags[0]&^1 != 0 {
			sr.fail("member %d: ID %d not ascending or flags %#x unknown", i, m.id, flags[0])
		}
		m.promote = flags[0]&1 != 0
		last = m.id
		members = append(members, m)
	}
	want := sr.crc
	if got := sr.u32(); sr.err == nil && got != want {
		sr.fail("members section checksum %#x, computed %#x", got, want)
	}
	return members, sr.err
}
