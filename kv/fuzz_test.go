package kv

import (
	"bytes"
	"math/rand/v2"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// FuzzApply: any command, applied twice to a store with some history,
// returns a response or an error without panicking, and leaves a state
// whose snapshot passes Restore's checks and round-trips.
func FuzzApply(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 5))
	for range 20 {
		b, err := Encode(randomWrite(rng))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, r := range []*pb.InternalRaftRequest{
		{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{cmpValue("k1", "k9", eq, "v1")},
			Success: []*pb.RequestOp{opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opGet("k", "l")}}), opDel("a", "\x00")},
			Failure: []*pb.RequestOp{opDel("k", "l"), opPut("k1", "x")},
		}},
		{Compaction: &pb.CompactionRequest{Revision: 10}},
		{LeaseGrant: &pb.LeaseGrantRequest{ID: 9, TTL: 5}},
		{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}},
		{Put: &pb.PutRequest{Key: []byte("k1"), IgnoreValue: true, IgnoreLease: true, PrevKv: true}},
		{Range: &pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l"), SortTarget: pb.RangeRequest_VALUE, Limit: 2}},
	} {
		b, err := Encode(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, cmd []byte) {
		h := newHarness(t)
		h.grant(1, 10)
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range 20 {
			if _, err := h.apply(randomWrite(rng)); err != nil {
				t.Fatal(err)
			}
			if i%5 == 0 {
				h.putLease("k9", "l", 1)
			}
		}
		for range 2 {
			h.index++
			h.s.Apply(h.index, cmd)
		}
		snap := snapshotBytes(t, h.s)
		r := newHarness(t)
		if err := r.s.Restore(bytes.NewReader(snap)); err != nil {
			t.Fatalf("Restore of the state the command left: %v", err)
		}
		if !bytes.Equal(snap, snapshotBytes(t, r.s)) {
			t.Fatal("snapshot does not round-trip")
		}
	})
}
