package kv

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// ErrTxnNotReadOnly is returned by Store.Txn for a transaction with writes:
// those must go through the log.
var ErrTxnNotReadOnly = errors.New("kv: transaction with writes must be applied through the log")

// txnPath is the outcome of a transaction's compares and, in order, of the
// transactions nested in the branch that outcome chose. etcd evaluates all
// of them against the state before the transaction writes anything.
type txnPath struct {
	succeeded bool
	nested    []*txnPath
}

func (p *txnPath) ops(r *pb.TxnRequest) []*pb.RequestOp {
	if p.succeeded {
		return r.Success
	}
	return r.Failure
}

// applyTxn applies a TxnRequest from the log. The caller holds s.mu.
func (s *Store) applyTxn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := CheckTxn(r, noOpLimit); err != nil {
		return nil, err
	}
	path := s.compareToPath(r, s.rev)
	if err := s.checkTxn(r, path, s.rev); err != nil {
		return nil, err
	}
	tw := s.write()
	resp := tw.executeTxn(r, path)
	tw.end()
	resp.Header = &pb.ResponseHeader{Revision: s.rev}
	return resp, nil
}

// Txn serves a read-only TxnRequest from local state, as etcd serves
// read-only transactions without the log. A transaction with writes gets
// ErrTxnNotReadOnly. The server checks the request with CheckTxn first.
func (s *Store) Txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if !IsTxnReadOnly(r) {
		return nil, ErrTxnNotReadOnly
	}
	if err := CheckTxn(r, noOpLimit); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	path := s.compareToPath(r, s.rev)
	if err := s.checkTxn(r, path, s.rev); err != nil {
		return nil, err
	}
	// A read-only transaction changes nothing, so the write transaction
	// only reads; end is never called.
	tw := s.write()
	resp := tw.executeTxn(r, path)
	if len(tw.changes) != 0 {
		panic(fmt.Sprintf("kv: read-only txn made %d changes", len(tw.changes)))
	}
	resp.Header = &pb.ResponseHeader{Revision: s.rev}
	return resp, nil
}

// IsTxnReadOnly reports whether every op of both branches is a Range, as
// etcd decides; a nested transaction counts as a write.
func IsTxnReadOnly(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if op.GetRequestRange() == nil {
				return false
			}
		}
	}
	return true
}

// IsTxnSerializable reports whether every op of both branches is a
// serializable Range.
func IsTxnSerializable(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if rr := op.GetRequestRange(); rr == nil || !rr.Serializable {
				return false
			}
		}
	}
	return true
}

// compareToPath evaluates r's compares, and those of the transactions
// nested in the chosen branch, at revision rev.
func (s *Store) compareToPath(r *pb.TxnRequest, rev int64) *txnPath {
	p := &txnPath{succeeded: true}
	for _, c := range r.Compare {
		if !s.applyCompare(c, rev) {
			p.succeeded = false
			break
		}
	}
	for _, op := range p.ops(r) {
		if t := op.GetRequestTxn(); t != nil {
			p.nested = append(p.nested, s.compareToPath(t, rev))
		}
	}
	return p
}

// applyCompare evaluates one compare: it holds if it holds for every key in
// its range. Over no keys, a value compare fails and the others compare
// against zero, as in etcd.
func (s *Store) applyCompare(c *pb.Compare, rev int64) bool {
	found, ok := false, true
	eachLive(s.keys, newKeyRange(c.Key, c.RangeEnd), rev, func(_ []byte, rec record) bool {
		found = true
		ok = compareRecord(c, rec)
		return ok
	})
	if !found {
		return c.Target != pb.Compare_VALUE && compareRecord(c, record{})
	}
	return ok
}

func compareRecord(c *pb.Compare, rec record) bool {
	var result int
	switch c.Target {
	case pb.Compare_VALUE:
		result = bytes.Compare(rec.value, c.GetValue())
	case pb.Compare_CREATE:
		result = cmp.Compare(rec.create, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = cmp.Compare(rec.rev.main, c.GetModRevision())
	case pb.Compare_VERSION:
		result = cmp.Compare(rec.version, c.GetVersion())
	case pb.Compare_LEASE:
		result = cmp.Compare(rec.lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		return result < 0
	}
	return true
}

// checkTxn reports the errors etcd finds, before writing anything, in the
// ops on path: a Range at a future or compacted revision, a Put with an
// unknown lease or ignoring a missing key's value or lease.
func (s *Store) checkTxn(r *pb.TxnRequest, path *txnPath, rev int64) error {
	nested := path.nested
	for _, op := range path.ops(r) {
		var err error
		switch {
		case op.GetRequestRange() != nil:
			err = s.checkRangeRevision(op.GetRequestRange().Revision, rev)
		case op.GetRequestPut() != nil:
			err = s.checkPut(op.GetRequestPut(), rev)
		case op.GetRequestTxn() != nil:
			err = s.checkTxn(op.GetRequestTxn(), nested[0], rev)
			nested = nested[1:]
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRangeRevision is etcd's revision check for a Range in a transaction.
// Unlike a plain Range, a negative revision is compared with the compaction
// point (-1 before any compaction), as in etcd.
func (s *Store) checkRangeRevision(want, rev int64) error {
	switch {
	case want == 0:
		return nil
	case want > rev:
		return rpctypes.ErrGRPCFutureRev
	case want < s.compactRev:
		return rpctypes.ErrGRPCCompacted
	}
	return nil
}

// executeTxn runs the ops on path, which checkTxn passed, and returns the
// responses. Nested transactions' headers stay empty, as in etcd; the
// caller sets the top one.
func (tw *writeTxn) executeTxn(r *pb.TxnRequest, path *txnPath) *pb.TxnResponse {
	ops := path.ops(r)
	resp := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{},
		Succeeded: path.succeeded,
		Responses: make([]*pb.ResponseOp, len(ops)),
	}
	nested := path.nested
	for i, op := range ops {
		ro := &pb.ResponseOp{}
		switch {
		case op.GetRequestRange() != nil:
			rr, err := tw.s.rangeAt(op.GetRequestRange(), tw.readRev())
			if err != nil {
				panic(fmt.Sprintf("kv: range in txn failed after its check: %v", err))
			}
			ro.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rr}
		case op.GetRequestPut() != nil:
			ro.Response = &pb.ResponseOp_ResponsePut{ResponsePut: tw.put(op.GetRequestPut())}
		case op.GetRequestDeleteRange() != nil:
			ro.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: tw.deleteRange(op.GetRequestDeleteRange())}
		case op.GetRequestTxn() != nil:
			ro.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: tw.executeTxn(op.GetRequestTxn(), nested[0])}
			nested = nested[1:]
		}
		resp.Responses[i] = ro
	}
	return resp
}
