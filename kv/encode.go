package kv

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// Commands are etcdserverpb.InternalRaftRequest messages in protobuf wire
// form, as etcd logs them: exactly one request field set. The server builds
// them with Encode; Apply decodes them with Decode.

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
