package kv

import (
	"bytes"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// lease is one entry of the lease table. Expiry is not here: it is the
// leader's business (a local timer that proposes a LeaseRevoke), so that
// applying the log never reads a clock.
type lease struct {
	id int64
	// ttl is the TTL granted, in seconds, as the command carried it (the
	// server applies its minimum TTL before proposing).
	ttl int64
	// remainingTTL is the last checkpointed remaining TTL in seconds, 0 if
	// never checkpointed.
	remainingTTL int64
	// keys are the keys whose current version carries this lease.
	keys map[string]struct{}
}

// LeaseInfo describes one lease, for the TimeToLive and Leases RPCs.
type LeaseInfo struct {
	// ID is the lease ID.
	ID int64
	// TTL is the TTL granted, in seconds.
	TTL int64
	// RemainingTTL is the remaining TTL of the last LeaseCheckpoint, in
	// seconds; 0 if none was applied.
	RemainingTTL int64
	// Keys are the attached keys in ascending order (only from Lease).
	Keys [][]byte
}

// Leases returns every lease, in ascending ID order, without keys.
func (s *Store) Leases() []LeaseInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := slices.Sorted(maps.Keys(s.leases))
	out := make([]LeaseInfo, len(ids))
	for i, id := range ids {
		l := s.leases[id]
		out[i] = LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remainingTTL}
	}
	return out
}

// Lease returns the lease id with its attached keys; ok is false if there
// is no such lease.
func (s *Store) Lease(id int64) (info LeaseInfo, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.leases[id]
	if !ok {
		return LeaseInfo{}, false
	}
	keys := make([][]byte, 0, len(l.keys))
	for k := range l.keys {
		keys = append(keys, []byte(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	return LeaseInfo{ID: id, TTL: l.ttl, RemainingTTL: l.remainingTTL, Keys: keys}, true
}

func (s *Store) applyLeaseGrant(r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	switch {
	case r.ID == 0:
		// The server picks an ID before proposing; etcd's lessor refuses 0.
		return nil, rpctypes.ErrGRPCLeaseNotFound
	case r.TTL > MaxLeaseTTL:
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	if _, ok := s.leases[r.ID]; ok {
		return nil, rpctypes.ErrGRPCLeaseExist
	}
	s.leases[r.ID] = &lease{id: r.ID, ttl: r.TTL, keys: make(map[string]struct{})}
	return &pb.LeaseGrantResponse{
		Header: &pb.ResponseHeader{Revision: s.rev},
		ID:     r.ID,
		TTL:    r.TTL,
	}, nil
}

// applyLeaseRevoke revokes a lease, explicitly or on expiry: its keys are
// deleted, in key order, in one revision.
func (s *Store) applyLeaseRevoke(r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	l, ok := s.leases[r.ID]
	if !ok {
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	keys := slices.Sorted(maps.Keys(l.keys))
	tw := s.write()
	for _, k := range keys {
		tw.deleteRange(&pb.DeleteRangeRequest{Key: []byte(k)})
	}
	if len(l.keys) != 0 {
		panic(fmt.Sprintf("kv: lease %d still has %d keys after deleting them", r.ID, len(l.keys)))
	}
	delete(s.leases, r.ID)
	tw.end()
	return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: s.rev}}, nil
}

// applyLeaseCheckpoint records remaining TTLs; unknown leases are skipped,
// as in etcd.
func (s *Store) applyLeaseCheckpoint(r *pb.LeaseCheckpointRequest) (*pb.LeaseCheckpointResponse, error) {
	for _, c := range r.Checkpoints {
		if l, ok := s.leases[c.ID]; ok {
			l.remainingTTL = c.Remaining_TTL
		}
	}
	return &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{Revision: s.rev}}, nil
}

// attach records that key's current version carries lease id (0: none).
func (s *Store) attach(id int64, key []byte) {
	if id == 0 {
		return
	}
	l, ok := s.leases[id]
	if !ok {
		panic(fmt.Sprintf("kv: attach key %q to lease %d, which does not exist", key, id))
	}
	l.keys[string(key)] = struct{}{}
}

// detach undoes attach.
func (s *Store) detach(id int64, key []byte) {
	if id == 0 {
		return
	}
	if l, ok := s.leases[id]; ok {
		delete(l.keys, string(key))
	}
}
