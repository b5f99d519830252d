// Package storage is the durable Raft state of one node: it combines a
// write-ahead log (package wal) and snapshot files (package snap) on a
// vfs.FS, persists what raft.Ready hands out, and serves it back to the core
// through the read-only raft.Storage interface.
//
// # Directory
//
//	dir/
//	  wal/   segments of package wal: hard state, entries, snapshot markers
//	  snap/  snapshot files of package snap, the newest SnapshotsKept of them
//
// Open creates both directories if they are absent (syncing the parent of
// each directory it creates), or recovers the state they hold. A new
// cluster's initial configuration is stored with Bootstrap, as a snapshot
// at index 0, term 0 whose only content is the configuration.
//
// # Writing
//
// SaveReady follows the Ready contract of raft.RawNode: the snapshot first
// (snap.Save, which fsyncs, then a WAL snapshot marker, which is synced),
// then the entries (replacing any suffix of the log they overlap) and the
// hard state in one WAL write, synced when mustSync is set. The in-memory
// state changes only after the disk writes returned. Before it writes any
// snapshot file, Storage syncs the WAL (no fsync if nothing is unsynced), so
// a crash always leaves the state after some prefix of the writes: never a
// snapshot together with the loss of a hard state saved before it.
//
// CreateSnapshot stores a snapshot the application made of its own state.
// It writes only the snapshot file, no WAL marker: the log already holds the
// snapshot's last entry, so the WAL keeps every entry after the previous
// marker and a fallback to the previous snapshot still finds its entries.
// Compact drops entries from the log (and the cache) and lets the WAL
// delete whole segments, but only below the previous snapshot (the one Load
// falls back to when the newest is corrupt): it first moves the WAL's
// marker up to that snapshot.
// With SnapshotsKept == 1 there is no previous snapshot on disk and the WAL
// is compacted up to the newest one.
//
// # Recovery rule
//
// Open loads the newest valid snapshot S (snap falls back, loudly, past
// corrupt newer files) and the WAL, whose last snapshot marker is M. Then:
//
//   - M.Index > S.Index, or M set and no snapshot at all: the WAL has
//     discarded (or never had) the entries between S and M, so the node
//     cannot rebuild its log from S. Open refuses with an *InconsistentError.
//     This happens when the newest snapshot file is lost or corrupt and the
//     WAL marker points at it: always for snapshots that came from a leader
//     (SaveReady writes their marker at once, as the WAL needs it to accept
//     the entries after them), and for an application snapshot after a
//     Compact moved the marker to it.
//   - M.Index == S.Index: the terms must agree (else *InconsistentError); the
//     log is the WAL's entries after M.
//   - M.Index < S.Index: the usual case after CreateSnapshot, or after a
//     crash between the snapshot file and its marker in SaveReady, or a
//     fallback to an older snapshot. If the WAL's log holds S's last entry
//     with S's term, the entries after it are the log (entries at or below S
//     are dropped from memory). Otherwise the snapshot wins, as Raft's rule
//     for installing a snapshot says: the log is emptied and Open writes the
//     marker for S to the WAL (a synced write), finishing the interrupted
//     SaveReady.
//
// After a fallback, snap sets the corrupt newer file aside (renamed with
// snap.CorruptSuffix), so later snapshots are saved normally.
//
// A WAL of another node or cluster is refused with the WAL's
// *wal.MismatchError; corruption in the WAL with its *wal.CorruptionError.
// Snapshot files without a WAL are refused (*InconsistentError), except a
// bootstrap snapshot at index 0 (a crash between Bootstrap and the WAL's
// creation cannot happen, Open creates the WAL first, but the rule costs
// nothing).
//
// # Memory
//
// Storage keeps in memory the newest snapshot with its data, the term of
// every entry since its first index as runs of (first index, term), which
// is small, and a cache of the newest entries whose
// raftpb.Entry.PayloadSize sum is at most Options.CacheBytes (64 MiB by
// default); the oldest are evicted as new ones are appended. Term never
// reads the disk; Entries reads the entries older than the cache from the
// WAL's segments (wal.ReadEntries). Open keeps only the newest entries
// within CacheBytes while it replays the WAL (wal.Options.RecoverBytes).
//
// # Failure
//
// Every error from the WAL or the snapshot files on the write path (a failed
// write or fsync above all) is fatal: Storage records it, and every later
// call, the raft.Storage reads included, returns it. The node must stop and
// recover from disk with Open. Errors about bad arguments (an out-of-date
// snapshot, a compaction beyond the snapshot) are returned before anything
// is written and are not fatal.
//
// # Concurrency
//
// Storage is safe for concurrent use. Writes (SaveReady, CreateSnapshot,
// Compact, Bootstrap) run one at a time and do their disk I/O without
// holding the lock that readers take, so raft.Storage reads are not blocked
// by an fsync; they see the state as of the last write that returned.
// Entries reads older entries from the WAL without holding that lock
// either, then checks that no write replaced, discarded or evicted entries
// of the range meanwhile (a generation counter, and a flag set while a
// write that truncates or installs a snapshot is between the WAL and the
// state in memory); if one did it tries again, and after a few tries it
// takes the writers' lock for its read, so it waits for at most one write.
// A WAL read error other than such a race (corruption above all) is fatal.
//
// # Departures from raft.MemoryStorage
//
//   - Compact refuses an index above the snapshot's (MemoryStorage allows
//     compacting up to the last index): entries not in any snapshot must
//     stay readable.
//   - A snapshot from SaveReady whose last entry (index and term) is in the
//     log keeps the entries after it, as the WAL does (§7 of the Raft
//     paper); MemoryStorage.ApplySnapshot always empties the log. So the
//     state in memory is always the state recovery rebuilds.
package storage
