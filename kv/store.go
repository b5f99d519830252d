package kv

import (
	"errors"
	"fmt"
	"sync"

	"github.com/google/btree"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// ErrStaleIndex is returned by Apply for a log index at or below the last
// one applied; the store is unchanged.
var ErrStaleIndex = errors.New("kv: log index already applied")

// ErrUnsupportedCommand is returned by Apply for a command that carries none
// of the requests the store applies; the store is unchanged.
var ErrUnsupportedCommand = errors.New("kv: command carries no supported request")

// Store is the etcd v3 state machine: an MVCC key space with revisions,
// history until compaction, leases and watchers. See the package doc for the
// threads that may call it.
type Store struct {
	cfg Config

	// mu guards everything below. Apply and Restore hold it to write;
	// Range, Txn (read-only), Lease queries, Snapshot's copy and watch
	// catch-up hold it to read. Lock order: mu before hub.mu.
	mu sync.RWMutex
	// keys holds every key's retained history, ordered by key.
	keys *btree.BTreeG[keyHistory]
	// revs indexes every record in keys by revision.
	revs *btree.BTreeG[revEntry]
	// rev is the current revision. Invariant: rev >= 1 (etcd starts at 1;
	// the first write is revision 2).
	rev int64
	// compactRev is the revision of the last compaction, -1 before any.
	// Reads below it fail with ErrGRPCCompacted. Invariant: compactRev <= rev.
	compactRev int64
	// applied is the log index of the last command applied.
	applied uint64
	// leases is the lease table by ID.
	leases map[int64]*lease
	// sizeBytes approximates the memory held by keys, see recordBytes.
	sizeBytes int64

	hub hub
}

// New returns an empty store at revision 1.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg.withDefaults()}
	s.reset()
	s.hub.init()
	return s, nil
}

// reset empties the store. The caller holds mu or owns s exclusively.
func (s *Store) reset() {
	s.keys = newKeyTree()
	s.revs = newRevTree()
	s.rev = 1
	s.compactRev = -1
	s.applied = 0
	s.leases = make(map[int64]*lease)
	s.sizeBytes = 0
}

// Apply applies one committed command, the log entry at index, and returns
// its response: *etcdserverpb.PutResponse, DeleteRangeResponse,
// TxnResponse, RangeResponse, CompactionResponse, LeaseGrantResponse,
// LeaseRevokeResponse or LeaseCheckpointResponse, matching the request the
// command carries. An empty cmd is a no-op that only records index (use it
// for entries that carry no command).
//
// A request etcd refuses yields etcd's error from package rpctypes (for
// example ErrGRPCCompacted, ErrGRPCLeaseNotFound) with the store unchanged;
// every member refuses alike. The response header carries only the
// revision; the server fills in cluster, member and term.
//
// Apply is called from one goroutine, in log order.
func (s *Store) Apply(index uint64, cmd []byte) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.applied {
		return nil, fmt.Errorf("kv: apply index %d, last applied %d: %w", index, s.applied, ErrStaleIndex)
	}
	s.applied = index
	if len(cmd) == 0 {
		return nil, nil
	}
	r, err := Decode(cmd)
	if err != nil {
		return nil, fmt.Errorf("kv: apply index %d: %w", index, err)
	}
	return s.applyRequest(r)
}

// applyRequest dispatches a decoded command. If a command carries several
// requests, the first in this order is applied, as in etcd.
func (s *Store) applyRequest(r *pb.InternalRaftRequest) (any, error) {
	switch {
	case r.Range != nil:
		if err := CheckRange(r.Range); err != nil {
			return nil, err
		}
		return s.rangeAt(r.Range, s.rev)
	case r.Put != nil:
		return s.applyPut(r.Put)
	case r.DeleteRange != nil:
		return s.applyDeleteRange(r.DeleteRange)
	case r.Txn != nil:
		return s.applyTxn(r.Txn)
	case r.Compaction != nil:
		return s.applyCompaction(r.Compaction)
	case r.LeaseGrant != nil:
		return s.applyLeaseGrant(r.LeaseGrant)
	case r.LeaseRevoke != nil:
		return s.applyLeaseRevoke(r.LeaseRevoke)
	case r.LeaseCheckpoint != nil:
		return s.applyLeaseCheckpoint(r.LeaseCheckpoint)
	default:
		return nil, ErrUnsupportedCommand
	}
}

func (s *Store) applyPut(r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := CheckPut(r); err != nil {
		return nil, err
	}
	if err := s.checkPut(r, s.rev); err != nil {
		return nil, err
	}
	tw := s.write()
	resp := tw.put(r)
	tw.end()
	return resp, nil
}

func (s *Store) applyDeleteRange(r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := CheckDeleteRange(r); err != nil {
		return nil, err
	}
	tw := s.write()
	resp := tw.deleteRange(r)
	tw.end()
	return resp, nil
}

// Revision returns the current revision.
func (s *Store) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// CompactRevision returns the revision of the last compaction, or -1.
func (s *Store) CompactRevision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.compactRev
}

// AppliedIndex returns the log index of the last command applied (or
// restored from a snapshot).
func (s *Store) AppliedIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Size returns the approximate bytes the key space holds, history included:
// keys, values and a fixed overhead per record. Maintenance Status reports
// it as the database size.
func (s *Store) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sizeBytes
}

// Range serves a RangeRequest from local state (a serializable read, or a
// linearizable one after the server's read fence). The server checks the
// request with CheckRange first.
func (s *Store) Range(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := CheckRange(r); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rangeAt(r, s.rev)
}
