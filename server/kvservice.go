package server

import (
	"context"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ironraft/ironraft/kv"
)

// kvService is etcd's KV service. Writes are proposed (on any member; the
// node forwards followers' proposals to the leader); linearizable reads
// wait for the read fence and then read the local store; serializable
// reads read it at once.
type kvService struct {
	pb.UnimplementedKVServer
	s *Server
}

// propose proposes cmd and returns the state machine's response for it,
// with errors as etcd gives them. It waits at most RequestTimeout.
func (s *Server) propose(ctx context.Context, cmd []byte) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	v, err := s.node.Propose(ctx, cmd)
	if err != nil {
		return nil, toGRPCError(err)
	}
	r, ok := v.(result)
	if !ok {
		return nil, status.Errorf(codes.Internal, "server: the state machine answered %T", v)
	}
	if r.err != nil {
		return nil, toGRPCError(r.err)
	}
	return r.resp, nil
}

// proposeKV proposes an etcd request, refusing one above MaxRequestBytes
// as etcd does.
func (s *Server) proposeKV(ctx context.Context, r *pb.InternalRaftRequest) (any, error) {
	cmd, size, err := encodeKV(r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	if size > s.cfg.MaxRequestBytes {
		return nil, rpctypes.ErrGRPCRequestTooLarge
	}
	return s.propose(ctx, cmd)
}

// readFence waits until a local read is linearizable (node.ReadIndex).
func (s *Server) readFence(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	_, err := s.node.ReadIndex(ctx)
	return toGRPCError(err)
}

// as returns resp as a T, or an internal error: the state machine answered
// a request with the wrong response type, which is a bug.
func as[T any](resp any) (T, error) {
	t, ok := resp.(T)
	if !ok {
		var zero T
		return zero, status.Error(codes.Internal, fmt.Sprintf("server: the state machine answered %T, want %T", resp, zero))
	}
	return t, nil
}

func (k *kvService) Range(ctx context.Context, r *pb.RangeRequest) (*pb.RangeResponse, error) {
	s := k.s
	if err := kv.CheckRange(r); err != nil {
		return nil, err
	}
	if !r.Serializable {
		if err := s.readFence(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := s.store.Range(r)
	if err != nil {
		return nil, toGRPCError(err)
	}
	resp.Header = s.fillHeader(resp.Header)
	return resp, nil
}

func (k *kvService) Put(ctx context.Context, r *pb.PutRequest) (*pb.PutResponse, error) {
	if err := kv.CheckPut(r); err != nil {
		return nil, err
	}
	v, err := k.s.proposeKV(ctx, &pb.InternalRaftRequest{Put: r})
	if err != nil {
		return nil, err
	}
	resp, err := as[*pb.PutResponse](v)
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

func (k *kvService) DeleteRange(ctx context.Context, r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := kv.CheckDeleteRange(r); err != nil {
		return nil, err
	}
	v, err := k.s.proposeKV(ctx, &pb.InternalRaftRequest{DeleteRange: r})
	if err != nil {
		return nil, err
	}
	resp, err := as[*pb.DeleteRangeResponse](v)
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}

// Txn serves a read-only transaction like a Range (linearizable unless
// every range in it is serializable) and proposes the others.
func (k *kvService) Txn(ctx context.Context, r *pb.TxnRequest) (*pb.TxnResponse, error) {
	s := k.s
	if err := kv.CheckTxn(r, s.cfg.MaxTxnOps); err != nil {
		return nil, err
	}
	var resp *pb.TxnResponse
	if kv.IsTxnReadOnly(r) {
		if !kv.IsTxnSerializable(r) {
			if err := s.readFence(ctx); err != nil {
				return nil, err
			}
		}
		var err error
		if resp, err = s.store.Txn(r); err != nil {
			return nil, toGRPCError(err)
		}
	} else {
		v, err := s.proposeKV(ctx, &pb.InternalRaftRequest{Txn: r})
		if err != nil {
			return nil, err
		}
		if resp, err = as[*pb.TxnResponse](v); err != nil {
			return nil, err
		}
	}
	resp.Header = s.fillHeader(resp.Header)
	return resp, nil
}

// Compact proposes a compaction. It is done when applied, so Physical
// needs no extra wait.
func (k *kvService) Compact(ctx context.Context, r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	v, err := k.s.proposeKV(ctx, &pb.InternalRaftRequest{Compaction: r})
	if err != nil {
		return nil, err
	}
	resp, err := as[*pb.CompactionResponse](v)
	if err != nil {
		return nil, err
	}
	resp.Header = k.s.fillHeader(resp.Header)
	return resp, nil
}
