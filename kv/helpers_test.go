package kv

import (
	"github.com/google/go-cmp/cmp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/testing/protocmp"
)

// tb is what the harness needs of testing.TB and rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// harness applies commands to a store with increasing log indexes.
type harness struct {
	t     tb
	s     *Store
	index uint64
}

func newHarness(t tb) *harness {
	t.Helper()
	return newHarnessConfig(t, Config{})
}

func newHarnessConfig(t tb, cfg Config) *harness {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return &harness{t: t, s: s}
}

// apply encodes r and applies it at the next index.
func (h *harness) apply(r *pb.InternalRaftRequest) (any, error) {
	h.t.Helper()
	cmd, err := Encode(r)
	if err != nil {
		h.t.Fatalf("Encode(%v) = %v", r, err)
	}
	h.index++
	return h.s.Apply(h.index, cmd)
}

// must applies r and fails the test on error.
func (h *harness) must(r *pb.InternalRaftRequest) any {
	h.t.Helper()
	resp, err := h.apply(r)
	if err != nil {
		h.t.Fatalf("Apply(%v) = %v", r, err)
	}
	return resp
}

func (h *harness) put(key, value string) *pb.PutResponse {
	h.t.Helper()
	return h.must(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}).(*pb.PutResponse)
}

func (h *harness) putLease(key, value string, lease int64) *pb.PutResponse {
	h.t.Helper()
	return h.must(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value), Lease: lease}}).(*pb.PutResponse)
}

func (h *harness) del(key, end string) *pb.DeleteRangeResponse {
	h.t.Helper()
	return h.must(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: bytesOrNil(end)}}).(*pb.DeleteRangeResponse)
}

func (h *harness) txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	h.t.Helper()
	resp, err := h.apply(&pb.InternalRaftRequest{Txn: r})
	if err != nil {
		return nil, err
	}
	return resp.(*pb.TxnResponse), nil
}

func (h *harness) compact(rev int64) error {
	h.t.Helper()
	_, err := h.apply(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}})
	return err
}

func (h *harness) grant(id, ttl int64) {
	h.t.Helper()
	h.must(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: id, TTL: ttl}})
}

func (h *harness) get(key string) *mvccpb.KeyValue {
	h.t.Helper()
	resp, err := h.s.Range(&pb.RangeRequest{Key: []byte(key)})
	if err != nil {
		h.t.Fatalf("Range(%q) = %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil
	}
	return resp.Kvs[0]
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func kv(key, value string, create, mod, version, lease int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: bytesOrNil(value), CreateRevision: create, ModRevision: mod, Version: version, Lease: lease}
}

func opPut(key, value string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}
}

func opDel(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte(key), RangeEnd: bytesOrNil(end)}}}
}

func opGet(key, end string) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key), RangeEnd: bytesOrNil(end)}}}
}

func opTxn(r *pb.TxnRequest) *pb.RequestOp {
	return &pb.RequestOp{Request: &pb.RequestOp_RequestTxn{RequestTxn: r}}
}

// protoDiff compares protobuf messages (and structures holding them).
func protoDiff(want, got any) string {
	return cmp.Diff(want, got, protocmp.Transform())
}
