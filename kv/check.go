package kv

import (
	"bytes"
	"math"
	"slices"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The Check functions are etcd's request validation (its v3rpc layer), with
// etcd's errors. The server calls them before proposing, so that a bad
// request costs no log entry; Apply runs them again, without the operation
// limit, so the store's invariants never depend on the server.

// CheckRange validates a RangeRequest.
func CheckRange(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return checkSort(r)
}

// CheckPut validates a PutRequest.
func CheckPut(r *pb.PutRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.IgnoreValue && len(r.Value) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.IgnoreLease && r.Lease != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

// CheckDeleteRange validates a DeleteRangeRequest.
func CheckDeleteRange(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// CheckTxn validates a TxnRequest: at most maxTxnOps compares, success ops
// and failure ops each (ErrGRPCTooManyOps; nested transactions share the
// budget as in etcd), every op and compare well formed, and no key put twice
// or both put and deleted on one path (ErrGRPCDuplicateKey), by etcd's
// interval rules.
func CheckTxn(r *pb.TxnRequest, maxTxnOps int) error {
	if err := checkTxnRequest(r, maxTxnOps); err != nil {
		return err
	}
	if _, _, err := checkIntervals(r.Success); err != nil {
		return err
	}
	_, _, err := checkIntervals(r.Failure)
	return err
}

func checkTxnRequest(r *pb.TxnRequest, maxTxnOps int) error {
	opc := max(len(r.Compare), len(r.Success), len(r.Failure))
	if opc > maxTxnOps {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if err := checkRequestOp(op, maxTxnOps-opc); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkRequestOp(op *pb.RequestOp, maxTxnOps int) error {
	switch {
	case op.GetRequestRange() != nil:
		return CheckRange(op.GetRequestRange())
	case op.GetRequestPut() != nil:
		return CheckPut(op.GetRequestPut())
	case op.GetRequestDeleteRange() != nil:
		return CheckDeleteRange(op.GetRequestDeleteRange())
	case op.GetRequestTxn() != nil:
		return checkTxnRequest(op.GetRequestTxn(), maxTxnOps)
	default: // an empty op, as etcd answers it
		return rpctypes.ErrGRPCKeyNotFound
	}
}

// checkIntervals is etcd's duplicate-key rule for one list of ops: a key
// may be put once, and not put where a delete on the same path covers it.
// The two branches of a nested transaction may put the same key, since only
// one runs. As in etcd, a nested transaction's puts are checked against the
// deletes of this level and of the nested transactions before it, not after
// it. It returns the keys put and the ranges deleted, for the level above.
func checkIntervals(ops []*pb.RequestOp) (map[string]struct{}, *intervalSet, error) {
	dels := &intervalSet{}
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			dels.add(deleteInterval(d))
		}
	}
	puts := make(map[string]struct{})
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkIntervals(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for k := range putsThen {
			if _, ok := puts[k]; ok || dels.contains([]byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		for k := range putsElse {
			if _, ok := puts[k]; ok {
				if _, fromThen := putsThen[k]; !fromThen {
					return nil, nil, rpctypes.ErrGRPCDuplicateKey
				}
			}
			if dels.contains([]byte(k)) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts[k] = struct{}{}
		}
		dels.union(delsThen)
		dels.union(delsElse)
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if _, ok := puts[k]; ok || dels.contains(p.Key) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts[k] = struct{}{}
	}
	return puts, dels, nil
}

// deleteInterval is the interval etcd's rule gives a delete: the key alone,
// or [key, range_end) taken literally. So a from-key delete (range_end
// "\x00") covers nothing, as in etcd.
func deleteInterval(d *pb.DeleteRangeRequest) interval {
	if len(d.RangeEnd) == 0 {
		return interval{begin: d.Key, end: append(slices.Clip(d.Key), 0)}
	}
	return interval{begin: d.Key, end: d.RangeEnd}
}

// interval is [begin, end) of keys, or [begin, ∞) if inf.
type interval struct {
	begin, end []byte
	inf        bool
}

func (iv interval) empty() bool { return !iv.inf && bytes.Compare(iv.begin, iv.end) >= 0 }

// intervalSet is a union of intervals.
// Invariant: ivs are non-empty, disjoint, not touching, sorted by begin.
type intervalSet struct{ ivs []interval }

func (s *intervalSet) contains(k []byte) bool {
	i := sort.Search(len(s.ivs), func(i int) bool { return bytes.Compare(s.ivs[i].begin, k) > 0 }) - 1
	return i >= 0 && (s.ivs[i].inf || bytes.Compare(k, s.ivs[i].end) < 0)
}

func (s *intervalSet) add(iv interval) {
	if iv.empty() {
		return
	}
	// ivs[i:j] overlap or touch iv.
	i := sort.Search(len(s.ivs), func(i int) bool {
		return s.ivs[i].inf || bytes.Compare(s.ivs[i].end, iv.begin) >= 0
	})
	j := len(s.ivs)
	if !iv.inf {
		j = sort.Search(len(s.ivs), func(j int) bool { return bytes.Compare(s.ivs[j].begin, iv.end) > 0 })
	}
	if i < j {
		if bytes.Compare(s.ivs[i].begin, iv.begin) < 0 {
			iv.begin = s.ivs[i].begin
		}
		if last := s.ivs[j-1]; last.inf || (!iv.inf && bytes.Compare(last.end, iv.end) > 0) {
			iv.end, iv.inf = last.end, last.inf
		}
	}
	s.ivs = slices.Replace(s.ivs, i, j, iv)
}

func (s *intervalSet) union(o *intervalSet) {
	for _, iv := range o.ivs {
		s.add(iv)
	}
}

// noOpLimit is the operation limit Apply checks transactions with: none.
const noOpLimit = math.MaxInt
