package kv

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestLeaseGrant(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	got := h.must(&pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 7, TTL: 30}})
	want := &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: 2}, ID: 7, TTL: 30}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("LeaseGrant (-want +got):\n%s", diff)
	}
	tests := []struct {
		name    string
		req     *pb.LeaseGrantRequest
		wantErr error
	}{
		{"existing ID", &pb.LeaseGrantRequest{ID: 7, TTL: 30}, rpctypes.ErrGRPCLeaseExist},
		{"ID 0", &pb.LeaseGrantRequest{TTL: 30}, rpctypes.ErrGRPCLeaseNotFound},
		{"TTL too large", &pb.LeaseGrantRequest{ID: 8, TTL: MaxLeaseTTL + 1}, rpctypes.ErrGRPCLeaseTTLTooLarge},
	}
	for _, tt := range tests {
		if _, err := h.apply(&pb.InternalRaftRequest{LeaseGrant: tt.req}); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: LeaseGrant(%v) = %v, want %v", tt.name, tt.req, err, tt.wantErr)
		}
	}
	h.grant(-3, MaxLeaseTTL)
	h.grant(100, 5)
	wantLeases := []LeaseInfo{{ID: -3, TTL: MaxLeaseTTL}, {ID: 7, TTL: 30}, {ID: 100, TTL: 5}}
	if diff := cmp.Diff(wantLeases, h.s.Leases()); diff != "" {
		t.Errorf("Leases() (-want +got):\n%s", diff)
	}
}

func TestLeaseAttachDetach(t *testing.T) {
	h := newHarness(t)
	h.grant(1, 60)
	h.grant(2, 60)
	h.putLease("b", "x", 1)
	h.putLease("a", "x", 1)
	h.putLease("c", "x", 1)
	// Moves to lease 2.
	h.putLease("c", "y", 2) // moves to lease 2
	h.put("b", "plain")     // drops its lease
	h.must(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("d"), Value: []byte("v"), Lease: 1}})
	// ignore_lease keeps d's lease.
	h.must(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("d"), Value: []byte("w"), IgnoreLease: true}})
	h.putLease("e", "x", 1)
	h.del("e", "")
	want := map[int64]LeaseInfo{
		1: {ID: 1, TTL: 60, Keys: [][]byte{[]byte("a"), []byte("d")}},
		2: {ID: 2, TTL: 60, Keys: [][]byte{[]byte("c")}},
	}
	for id, w := range want {
		got, ok := h.s.Lease(id)
		if !ok {
			t.Fatalf("Lease(%d) not found", id)
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("Lease(%d) (-want +got):\n%s", id, diff)
		}
	}
	if _, ok := h.s.Lease(3); ok {
		t.Error("Lease(3) found, want none")
	}
}

func TestLeaseRevokeDeletesKeysInOneRevision(t *testing.T) {
	h := newHarness(t)
	h.grant(1, 60)
	h.grant(2, 60)
	h.putLease("b", "x", 1) // 2
	h.putLease("a", "x", 1) // 3
	h.putLease("c", "x", 2) // 4
	got := h.must(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}})
	if diff := protoDiff(&pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: 5}}, got); diff != "" {
		t.Errorf("LeaseRevoke (-want +got):\n%s", diff)
	}
	for _, k := range []string{"a", "b"} {
		if kv := h.get(k); kv != nil {
			t.Errorf("get(%q) after revoking its lease = %v, want nothing", k, kv)
		}
	}
	if h.get("c") == nil {
		t.Error("get(c) = nothing, want the key of the other lease")
	}
	// Both deletes are revision 5, a before b.
	for i, k := range []string{"a", "b"} {
		hist, _ := h.s.keys.Get(keyHistory{key: []byte(k)})
		if got, want := hist.last().rev, (revision{main: 5, sub: int64(i)}); got != want {
			t.Errorf("%q deleted at %v, want %v", k, got, want)
		}
	}
	if _, ok := h.s.Lease(1); ok {
		t.Error("Lease(1) found after revoke")
	}
	if _, err := h.apply(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}}); !errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		t.Errorf("revoking again = %v, want %v", err, rpctypes.ErrGRPCLeaseNotFound)
	}
	// A lease without keys revokes without a new revision.
	h.grant(3, 60)
	got = h.must(&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 3}})
	if diff := protoDiff(&pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: 5}}, got); diff != "" {
		t.Errorf("LeaseRevoke of an empty lease (-want +got):\n%s", diff)
	}
	// A put naming a revoked lease is refused.
	if _, err := h.apply(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("z"), Lease: 1}}); !errors.Is(err, rpctypes.ErrGRPCLeaseNotFound) {
		t.Errorf("put with a revoked lease = %v, want %v", err, rpctypes.ErrGRPCLeaseNotFound)
	}
}

func TestLeaseCheckpoint(t *testing.T) {
	h := newHarness(t)
	h.grant(1, 60)
	got := h.must(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{
		{ID: 1, Remaining_TTL: 42}, {ID: 99, Remaining_TTL: 1},
	}}})
	if diff := protoDiff(&pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{Revision: 1}}, got); diff != "" {
		t.Errorf("LeaseCheckpoint (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]LeaseInfo{{ID: 1, TTL: 60, RemainingTTL: 42}}, h.s.Leases()); diff != "" {
		t.Errorf("Leases() (-want +got):\n%s", diff)
	}
}
