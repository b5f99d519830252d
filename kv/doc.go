// Package kv is ironkv's state machine: etcd v3 semantics (MVCC revisions,
// Range, Put, DeleteRange, Txn, Compact, leases, watch) over an in-memory
// store, applied from the Raft log. It matches etcd's observable behaviour,
// errors included: requests etcd refuses get the same rpctypes errors
// (ErrGRPCCompacted, ErrGRPCFutureRev, ErrGRPCLeaseNotFound,
// ErrGRPCDuplicateKey, ...), so the server returns etcd's exact messages and
// codes.
//
// # Commands
//
// A command is an etcdserverpb.InternalRaftRequest in protobuf wire form
// (Encode), with one of
// Put, DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke,
// LeaseCheckpoint (or Range) set; other fields are ignored. Store.Apply
// decodes and applies one, and returns the etcd response message or an
// rpctypes error; a refused command changes nothing. Apply is deterministic:
// the same commands in the same order give the same state, responses and
// errors on every member. Nothing in it reads a clock or a random source,
// and nothing depends on map iteration order. What would need either is in
// the command: the server picks a lease's ID (when the client sends 0) and
// applies its minimum TTL before proposing a LeaseGrant, and proposes a
// LeaseRevoke when its own expiry timer fires.
//
// # Semantics
//
// The revision starts at 1 and advances once per write transaction that
// changes something (a Txn with several puts is one revision, its changes
// numbered by sub-revision; a read-only Txn or a delete that finds nothing
// leaves it alone). Each key carries create_revision, mod_revision, version
// and lease. History is kept until Compaction; reads below the compaction
// revision fail with ErrGRPCCompacted, above the current one with
// ErrGRPCFutureRev. Ops later in a Txn read the writes of earlier ones, as in
// etcd; all compares, including nested transactions', are evaluated first,
// against the state before the Txn. CheckRange, CheckPut, CheckDeleteRange
// and CheckTxn are etcd's request validation (empty keys, sort options,
// ignore_value/ignore_lease, the MaxTxnOps limit, the duplicate-key rule);
// the server calls them before proposing and Apply repeats them. Response
// headers carry the revision only; the server fills cluster, member and
// term. Departures from etcd, all in corners etcd leaves unspecified or
// gets wrong: range sorting is stable (ties keep key order); lease and
// TimeToLive key lists are sorted; and an ignore_value or ignore_lease put
// of a key that a from-key delete earlier in the same Txn removed (which
// etcd's duplicate-key rule misses, and etcd panics applying) puts an empty
// value with no lease.
//
// # Concurrency
//
// Apply (and Restore) run on one goroutine, the node's apply loop. Range,
// read-only Txn, Lease, Leases, Revision, Snapshot and every WatchStream
// method may be called from any goroutine at the same time: a RWMutex
// guards the store, and a second mutex (taken after it) the watchers.
// Snapshot takes the write lock only to clone the trees; writing the
// snapshot then runs alongside Apply.
//
// # Watch
//
// A WatchStream is one client stream. Its watchers share one queue of
// etcd WatchResponses (created, events, progress, canceled, compacted) in
// the order the server must send them, which the server drains with Next.
// Apply queues each revision's events for the watchers that are caught up
// ("synced"); it never blocks. The queue holds at most
// Config.WatchQueueEvents events (one revision is always queued whole into
// an empty queue): a watcher whose events do not fit becomes unsynced and
// later catches up from history inside Next, in the consumer's goroutine,
// in batches of about Config.WatchBatchEvents events, reading at most about
// Config.WatchScanRecords records per step under the read lock. If the
// history it needs was compacted meanwhile, it gets etcd's compacted
// response and ends. A stream whose queue is twice over its bound refuses
// new creates and cancels with ErrWatchStreamFull: its client is not
// reading, and the server should end the stream.
//
// # Snapshot format
//
// Snapshot.Write writes, all integers little-endian:
//
//	offset  size  field
//	0       8     magic "ironkvsn"
//	8       4     format version, uint32, currently 1
//	12      8     applied log index, uint64
//	20      8     revision, int64
//	28      8     compact revision, int64 (-1: never compacted)
//	36      8     L, the number of leases, uint64
//	        24*L  leases in ascending ID order: ID, granted TTL, checkpointed
//	              remaining TTL (int64 each)
//	        8     K, the number of keys, uint64
//	        ...   K keys in ascending order, each:
//	                4  key length, uint32; then the key
//	                4  R, the number of records, uint32; then R records in
//	                   revision order, each: main and sub revision, create
//	                   revision, version (0 for a tombstone), lease (int64
//	                   each), value length (uint32), value
//	        4     CRC-32C (Castagnoli) of every byte before it
//
// Restore reads the whole input and checks it (magic, version, checksum,
// orderings, record invariants, that every attached lease exists) before
// replacing anything; bad input gives an error wrapping ErrBadSnapshot,
// never a panic. Lease attachments and the revision index are rebuilt.
//
// # Limits
//
// History grows until Compaction: the server must compact (etcd's
// auto-compaction) and bound request sizes (etcd's max-request-bytes) and
// Txn ops (MaxTxnOps via CheckTxn). Range responses are not bounded here
// beyond the request's limit. Watch queues are bounded per stream as above,
// and watchers per stream by Config.MaxWatchersPerStream; the number of
// streams is the server's to bound. Each change is matched against every
// ranged watcher (single-key watchers are found by key), so a great many
// prefix watchers make Apply slower. Compaction visits the records written
// since the previous compaction, under the write lock.
package kv
