package kv

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// change is one record written by a write transaction.
type change struct {
	key []byte
	rec record
}

// writeTxn is one write transaction: every change it makes gets the
// revision main, with sub-revisions in order. It writes into the trees as
// it goes, so later operations in a Txn read earlier ones' writes (as etcd
// does); Apply holds the store's lock throughout, so no reader sees a
// partial transaction. The revision advances in end, and only if the
// transaction changed something.
type writeTxn struct {
	s       *Store
	main    int64
	changes []change
}

// write starts a write transaction. The caller holds s.mu.
func (s *Store) write() *writeTxn {
	return &writeTxn{s: s, main: s.rev + 1}
}

// readRev is the revision reads inside the transaction see, and report.
func (tw *writeTxn) readRev() int64 {
	if len(tw.changes) > 0 {
		return tw.main
	}
	return tw.main - 1
}

// put applies a checked PutRequest.
func (tw *writeTxn) put(r *pb.PutRequest) *pb.PutResponse {
	s := tw.s
	h, exists := s.keys.Get(keyHistory{key: r.Key})
	var prev record
	live := false
	if exists {
		prev, live = h.at(tw.readRev())
	}
	// checkPut found the key, so prev is its value and lease. The one
	// exception: a from-key delete earlier in the same Txn, which etcd's
	// duplicate-key rule does not see, removed it. etcd then panics; here
	// the put goes on with an empty value and no lease.
	value, leaseID := r.Value, r.Lease
	if r.IgnoreValue {
		value = prev.value
	}
	if r.IgnoreLease {
		leaseID = prev.lease
	}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: tw.main}}
	if r.PrevKv && live {
		resp.PrevKv = prev.keyValue(h.key, false)
	}
	// The request is the store's own (decoded from the command), so its
	// bytes are kept without a copy.
	key := r.Key
	if exists {
		key = h.key
	}
	rec := record{create: tw.main, version: 1, lease: leaseID, value: value}
	if live {
		rec.create, rec.version = prev.create, prev.version+1
	}
	tw.append(h, exists, key, rec)
	if live && prev.lease != leaseID {
		s.detach(prev.lease, key)
	}
	if !live || prev.lease != leaseID {
		s.attach(leaseID, key)
	}
	return resp
}

// deleteRange applies a checked DeleteRangeRequest.
func (tw *writeTxn) deleteRange(r *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	type victim struct {
		h    keyHistory
		prev record
	}
	var victims []victim
	eachKey(tw.s.keys, newKeyRange(r.Key, r.RangeEnd), func(h keyHistory) bool {
		if prev, ok := h.at(tw.readRev()); ok {
			victims = append(victims, victim{h, prev})
		}
		return true
	})
	if r.PrevKv {
		resp.PrevKvs = make([]*mvccpb.KeyValue, 0, len(victims))
		for _, v := range victims {
			resp.PrevKvs = append(resp.PrevKvs, v.prev.keyValue(v.h.key, false))
		}
	}
	for _, v := range victims {
		tw.append(v.h, true, v.h.key, record{})
		tw.s.detach(v.prev.lease, v.h.key)
	}
	resp.Deleted = int64(len(victims))
	resp.Header.Revision = tw.readRev()
	return resp
}

// append adds rec, at the next sub-revision, to the history h of key (a
// new history if !exists).
func (tw *writeTxn) append(h keyHistory, exists bool, key []byte, rec record) {
	s := tw.s
	rec.rev = revision{main: tw.main, sub: int64(len(tw.changes))}
	if !exists {
		h = keyHistory{key: key}
	}
	h.recs = append(h.recs, rec)
	s.keys.ReplaceOrInsert(h)
	s.revs.ReplaceOrInsert(revEntry{rev: rec.rev, key: key})
	s.sizeBytes += recordBytes(key, rec)
	tw.changes = append(tw.changes, change{key: key, rec: rec})
}

// end commits the transaction: the revision advances if anything changed,
// and watchers hear of the changes.
func (tw *writeTxn) end() {
	if len(tw.changes) == 0 {
		return
	}
	tw.s.rev = tw.main
	tw.s.hub.notify(tw.s, tw.main, tw.changes)
}

// checkPut reports the errors etcd gives for a put against the state at
// revision rev: an unknown lease, then ignore_value or ignore_lease on a
// key that does not exist.
func (s *Store) checkPut(r *pb.PutRequest, rev int64) error {
	if r.Lease != 0 {
		if _, ok := s.leases[r.Lease]; !ok {
			return rpctypes.ErrGRPCLeaseNotFound
		}
	}
	if r.IgnoreValue || r.IgnoreLease {
		h, ok := s.keys.Get(keyHistory{key: r.Key})
		if !ok {
			return rpctypes.ErrGRPCKeyNotFound
		}
		if _, live := h.at(rev); !live {
			return rpctypes.ErrGRPCKeyNotFound
		}
	}
	return nil
}
