package kv

import (
	"bytes"
	"cmp"
	"math"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// rangeAt serves r against the state the caller sees as revision curRev (the
// current revision, or a write transaction's read revision). The caller
// holds s.mu.
func (s *Store) rangeAt(r *pb.RangeRequest, curRev int64) (*pb.RangeResponse, error) {
	rev := r.Revision
	if rev > curRev {
		return nil, rpctypes.ErrGRPCFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	if rev < s.compactRev {
		return nil, rpctypes.ErrGRPCCompacted
	}
	if err := checkSort(r); err != nil {
		return nil, err
	}

	// Like etcd, fetch everything when sorting or filtering and one extra
	// key otherwise, to learn "more"; count every key in the range either
	// way.
	fetch := rangeFetchLimit(r)
	var kvs []*mvccpb.KeyValue
	var count int64
	eachLive(s.keys, newKeyRange(r.Key, r.RangeEnd), rev, func(key []byte, rec record) bool {
		count++
		if !r.CountOnly && (fetch == 0 || int64(len(kvs)) < fetch) {
			kvs = append(kvs, rec.keyValue(key, false))
		}
		return true
	})
	kvs = filterRange(kvs, r)
	sortRange(kvs, r)

	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: curRev}, Count: count}
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	if r.KeysOnly { // after sorting, which may sort by value
		for _, kv := range kvs {
			kv.Value = nil
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

// rangeFetchLimit is how many keys a range collects before filtering and
// sorting: 0 for all (a negative limit is no limit, as in etcd).
func rangeFetchLimit(r *pb.RangeRequest) int64 {
	limit := r.Limit
	if limit < 0 || !isDefaultOrdering(r.SortTarget, r.SortOrder) || hasRevisionFilters(r) {
		limit = 0
	}
	if limit > 0 && limit < math.MaxInt64 {
		limit++
	}
	return limit
}

// isDefaultOrdering reports whether the order asked for is the key order
// keys are found in.
func isDefaultOrdering(target pb.RangeRequest_SortTarget, order pb.RangeRequest_SortOrder) bool {
	return order == pb.RangeRequest_NONE ||
		(target == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND)
}

func hasRevisionFilters(r *pb.RangeRequest) bool {
	return r.MinModRevision != 0 || r.MaxModRevision != 0 ||
		r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
}

// filterRange drops the keys outside the request's mod and create revision
// bounds; a zero bound is no bound.
func filterRange(kvs []*mvccpb.KeyValue, r *pb.RangeRequest) []*mvccpb.KeyValue {
	if !hasRevisionFilters(r) {
		return kvs
	}
	return slices.DeleteFunc(kvs, func(kv *mvccpb.KeyValue) bool {
		return (r.MaxModRevision != 0 && kv.ModRevision > r.MaxModRevision) ||
			(r.MinModRevision != 0 && kv.ModRevision < r.MinModRevision) ||
			(r.MaxCreateRevision != 0 && kv.CreateRevision > r.MaxCreateRevision) ||
			(r.MinCreateRevision != 0 && kv.CreateRevision < r.MinCreateRevision)
	})
}

// sortRange orders kvs (found in ascending key order) as etcd does: a sort
// target other than KEY with order NONE sorts ascending. etcd's sort is not
// stable; this one is, so keys that tie keep ascending key order (descending
// sorts included), which etcd's output may or may not show.
func sortRange(kvs []*mvccpb.KeyValue, r *pb.RangeRequest) {
	order := r.SortOrder
	if r.SortTarget != pb.RangeRequest_KEY && order == pb.RangeRequest_NONE {
		order = pb.RangeRequest_ASCEND
	}
	if isDefaultOrdering(r.SortTarget, order) {
		return
	}
	if r.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_DESCEND {
		slices.Reverse(kvs)
		return
	}
	var less func(a, b *mvccpb.KeyValue) int
	switch r.SortTarget {
	case pb.RangeRequest_VERSION:
		less = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.Version, b.Version) }
	case pb.RangeRequest_CREATE:
		less = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) }
	case pb.RangeRequest_MOD:
		less = func(a, b *mvccpb.KeyValue) int { return cmp.Compare(a.ModRevision, b.ModRevision) }
	case pb.RangeRequest_VALUE:
		less = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Value, b.Value) }
	default: // KEY ascending was handled above
		less = func(a, b *mvccpb.KeyValue) int { return bytes.Compare(a.Key, b.Key) }
	}
	if order == pb.RangeRequest_DESCEND {
		asc := less
		less = func(a, b *mvccpb.KeyValue) int { return asc(b, a) }
	}
	slices.SortStableFunc(kvs, less)
}

// checkSort refuses sort options outside the enums, which etcd answers with
// ErrGRPCInvalidSortOption.
func checkSort(r *pb.RangeRequest) error {
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}
