package kv

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Commands are etcdserverpb.InternalRaftRequest messages in protobuf wire
// form, as etcd logs them: exactly one request field set. The server builds
// them with these helpers; Apply decodes them with Decode.

// Encode marshals a command deterministically.
func Encode(r *pb.InternalRaftRequest) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("kv: encode command: %w", err)
	}
	return b, nil
}

// Decode unmarshals a command. Garbage gets an error.
func Decode(cmd []byte) (*pb.InternalRaftRequest, error) {
	r := &pb.InternalRaftRequest{}
	if err := proto.Unmarshal(cmd, r); err != nil {
		return nil, fmt.Errorf("kv: decode command: %w", err)
	}
	return r, nil
}

// EncodePut returns the command for a PutRequest.
func EncodePut(r *pb.PutRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{Put: r})
}

// EncodeDeleteRange returns the command for a DeleteRangeRequest.
func EncodeDeleteRange(r *pb.DeleteRangeRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{DeleteRange: r})
}

// EncodeTxn returns the command for a TxnRequest.
func EncodeTxn(r *pb.TxnRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{Txn: r})
}

// EncodeCompaction returns the command for a CompactionRequest.
func EncodeCompaction(r *pb.CompactionRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{Compaction: r})
}

// EncodeLeaseGrant returns the command for a LeaseGrantRequest. The server
// must fill in a non-zero ID (etcd picks one when the client sends 0) and
// its minimum TTL, so that every member applies the same lease.
func EncodeLeaseGrant(r *pb.LeaseGrantRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{LeaseGrant: r})
}

// EncodeLeaseRevoke returns the command for a LeaseRevokeRequest, used both
// for the Revoke RPC and when the leader's timer finds a lease expired.
func EncodeLeaseRevoke(r *pb.LeaseRevokeRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{LeaseRevoke: r})
}

// EncodeLeaseCheckpoint returns the command for a LeaseCheckpointRequest.
func EncodeLeaseCheckpoint(r *pb.LeaseCheckpointRequest) ([]byte, error) {
	return Encode(&pb.InternalRaftRequest{LeaseCheckpoint: r})
}
