// Package wal is ironraft's segmented write-ahead log: it makes a node's
// hard state, log entries and snapshot markers durable, and gives them back
// after a crash. All disk access goes through vfs.FS.
//
// # Files
//
// A WAL directory holds segment files named %016x-%016x.wal of (sequence,
// first index) in lower-case hex: sequences count up from 0 with no gap, and
// the first index is the index the next entry had when the segment was
// created. Each segment is preallocated to Options.SegmentBytes (64 MiB by
// default); a segment is cut (synced, and a new one started) when the next
// write would not fit. A segment being created is written as name+".tmp",
// synced, renamed and its directory synced, so a segment under its final
// name always has a whole header; leftover .tmp files are removed on open.
//
// # Segment layout
//
// All integers are little-endian; every checksum is CRC-32C (Castagnoli).
//
//	offset size field
//	0      8    magic "IRONWAL\n"
//	8      4    format version, uint32, currently 1
//	12     8    cluster ID, uint64
//	20     8    node ID, uint64
//	28     8    sequence, uint64 (equals the name's)
//	36     8    first index, uint64 (equals the name's)
//	44     4    CRC-32C of bytes [0, 44)
//	48     ...  records, back to back, then zeros to the end of the file
//
// A record is
//
//	+------------+--------+----------------------------+-------------+
//	| length u32 | type u8| CRC-32C(type, payload) u32 | payload ... |
//	+------------+--------+----------------------------+-------------+
//
// where length is the payload's size, 1 to 64 MiB. A zero length where a
// record would start ends the segment's records (the preallocated space is
// zeros). Payloads are uvarints (encoding/binary) and bytes:
//
//	1 entry batch   first index, count, then per entry: term, type,
//	                data length, data. Entries are consecutive from first
//	                index; a Save is split into batches of about 1 MiB.
//	2 hard state    term, vote, commit.
//	3 snapshot      index, term: a snapshot up to (index, term) is durable
//	  marker        elsewhere (package snap).
//	4 truncation    index: the entries at index and above are discarded.
//
// Trailing bytes in a payload are corruption. Every segment starts (after
// its header) with the current snapshot marker and hard state, if they are
// not zero, so compaction never removes the only copy of either.
//
// # Replay rules
//
// Records are replayed in order. An entry batch must start at exactly the
// next index (last index + 1). A truncation must be above the snapshot
// marker and at or below the last index. A snapshot marker never goes back;
// applying it follows Raft's rule for installing a snapshot: if the log holds
// the entry at the marker's index with the marker's term, the entries after
// it are kept; otherwise the whole log is discarded and the next index is
// the marker's index + 1. A marker whose index is below the oldest entry
// left (its entry was in a segment that compaction removed) keeps the log:
// a marker that discards entries after the previous marker is written right
// after a truncation of them (see below), so replay discards them even when
// it can no longer compare the term. The latest hard state wins. Each
// segment's first index must equal the next index at the end of the segment
// before it. Recovery returns the entries after the last snapshot marker (or
// the newest of them, see below), which must all be present.
//
// # Torn tails and corruption
//
// A crash can leave the last segment with a partial record or with zeros (or
// garbage from the write the crash interrupted) after its last valid record.
// Open cuts such a torn tail back to the last valid record, zeroes the cut
// bytes and syncs, so they can never be read as records later. A bad record
// counts as a torn tail only if no valid record starts anywhere after it in
// the last segment. Records are written in order and an fsync covers every
// earlier write of the file, so a bad record followed by a valid one is
// synced data gone bad, not a torn write, as long as a crash keeps a prefix
// of the unsynced writes. (A disk that kept a later unsynced write but not an
// earlier one makes Open refuse to start, not lose data.) If a valid record
// does follow, or a segment other than the last has a bad record, non-zero bytes
// after its records, a bad header, a gap or overlap in indexes, or a
// sequence number missing, Open returns a *CorruptionError naming the segment
// and offset, and the node must refuse to start; a segment of another node
// or cluster is a *MismatchError. Nothing is ever skipped.
//
// # Durability and failure
//
// Save writes a truncation record (if its first entry is at or below the
// last index), the entries, then the hard state, in one write; with sync it
// returns after an fsync covers that write. SaveSnapshotMarker writes the
// marker, preceded in the same write by a truncation at the previous
// marker's index + 1 if the new marker discards entries after the previous
// one, and returns after an fsync covers it. Concurrent syncing callers are
// group-committed with a leader-follower scheme on a condition variable: the
// first caller to find no fsync in flight runs one (outside the lock) for
// everything written so far, and callers that arrive meanwhile write their
// records and wait; when it returns, one of them runs the next fsync for all
// of them. The WAL starts no goroutines.
//
// A failed write or fsync is fatal: the WAL logs it once at Error level and
// every later call returns the same error, which wraps ErrFailed and the
// cause. It never retries: after a failed fsync the kernel may have dropped
// the dirty pages, so the only safe course is to stop the node and recover
// from what is on disk.
//
// Compact(index), with index at or below the snapshot marker, removes the
// oldest segments all of whose live entries are at or below index: segment
// k goes when some later segment's first index is at most index+1 (live
// entries of a segment are below every later segment's first index).
//
// # Memory and reads
//
// In memory the WAL keeps, for each live entry, its term and the segment
// and offset of its batch record (24 bytes an entry), rebuilt by recovery.
// ReadEntries uses it to read entries back from the segments: it copies the
// positions under the WAL's lock, a chunk at a time, and reads the records
// through read-only handles of its own with the lock released, so reads
// never hold up Save or an fsync. Records are never rewritten once their
// position is known (writes only go after the last record), so a read
// racing with appends sees the log as of when it copied the positions; if a
// truncation or a discarding marker comes between two chunks it starts
// again. A record that fails its checks is a *CorruptionError.
//
// Recovery replays every record but keeps in memory only the entries it
// returns: all of those after the marker by default, or only the newest
// within Options.RecoverBytes; Recovered.Terms gives the terms of all of
// them as runs, so a caller can answer term queries without reading.
package wal
