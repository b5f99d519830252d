package server

import (
	"context"
	"errors"
	"io"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/ironraft/ironraft/kv"
)

// leaseService is etcd's Lease service. Grant and Revoke are proposed on
// any member. KeepAlive and TimeToLive need the leader's lessor: a
// follower forwards each keep-alive and each TimeToLive to the leader's
// client URL (see forwarder), so a client may use any member.
type leaseService struct {
	pb.UnimplementedLeaseServer
	s *Server
}

// LeaseGrant grants a lease of at least the minimum TTL (one and a half
// election timeouts, as etcd), with a random ID if the client gave none.
func (l *leaseService) LeaseGrant(ctx context.Context, r *pb.LeaseGrantRequest) (*pb.LeaseGrantResponse, error) {
	s := l.s
	req := &pb.LeaseGrantRequest{ID: r.ID, TTL: max(r.TTL, s.lessor.minTTL)}
	if req.TTL > kv.MaxLeaseTTL {
		return nil, rpctypes.ErrGRPCLeaseTTLTooLarge
	}
	if req.ID == 0 {
		req.ID = s.newLeaseID()
	}
	v, err := s.proposeKV(ctx, &pb.InternalRaftRequest{LeaseGrant: req})
	if err != nil {
		return nil, err
	}
	resp, err := as[*pb.LeaseGrantResponse](v)
	if err != nil {
		return nil, err
	}
	if s.isLeader() {
		s.syncLessorRole()
		s.lessor.refresh(resp.ID, resp.TTL, time.Now())
	}
	resp.Header = s.fillHeader(resp.Header)
	return resp, nil
}

func (l *leaseService) LeaseRevoke(ctx context.Context, r *pb.LeaseRevokeRequest) (*pb.LeaseRevokeResponse, error) {
	s := l.s
	v, err := s.proposeKV(ctx, &pb.InternalRaftRequest{LeaseRevoke: r})
	if err != nil {
		return nil, err
	}
	resp, err := as[*pb.LeaseRevokeResponse](v)
	if err != nil {
		return nil, err
	}
	s.lessor.forget(r.ID)
	resp.Header = s.fillHeader(resp.Header)
	return resp, nil
}

// LeaseKeepAlive renews leases, one answer per request: the TTL granted,
// or 0 if the lease does not exist (as etcd answers). The stream ends when
// the server stops, so the client moves to another member.
func (l *leaseService) LeaseKeepAlive(stream pb.Lease_LeaseKeepAliveServer) error {
	s := l.s
	ctx := stream.Context()
	reqs := make(chan *pb.LeaseKeepAliveRequest) // unbuffered: one renewal at a time
	errc := make(chan error, 1)
	// The receiver ends when the handler has returned (gRPC ends the
	// stream); Stop joins it.
	if !s.goLoop(func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}) {
		return rpctypes.ErrGRPCStopped
	}
	for {
		select {
		case req := <-reqs:
			ttl, err := s.renewLease(ctx, req.ID)
			if err != nil {
				return err
			}
			if err := stream.Send(&pb.LeaseKeepAliveResponse{Header: s.header(s.store.Revision()), ID: req.ID, TTL: ttl}); err != nil {
				return err
			}
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-s.stopCtx.Done():
			return rpctypes.ErrGRPCStopped
		}
	}
}

// renewLease renews lease id on the leader and returns its TTL (0 if it
// does not exist).
func (s *Server) renewLease(ctx context.Context, id int64) (int64, error) {
	var ttl int64
	err := s.onLeader(ctx, func(ctx context.Context) error {
		info, ok, err := s.leaseInfo(ctx, id)
		if err != nil || !ok {
			ttl = 0
			return err
		}
		s.syncLessorRole()
		if !s.lessor.refresh(id, info.TTL, time.Now()) {
			return rpctypes.ErrGRPCNotLeader
		}
		ttl = info.TTL
		return nil
	}, func(ctx context.Context, cc *grpc.ClientConn) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ka, err := pb.NewLeaseClient(cc).LeaseKeepAlive(ctx)
		if err != nil {
			return err
		}
		if err := ka.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
			return err
		}
		resp, err := ka.Recv()
		if err != nil {
			return err
		}
		ttl = resp.TTL
		return ka.CloseSend()
	})
	return ttl, err
}

// leaseInfo returns lease id from the local store. A lease not found is
// looked up again after a read fence, so that a lease granted through
// another member and not yet applied here is not taken for missing.
func (s *Server) leaseInfo(ctx context.Context, id int64) (kv.LeaseInfo, bool, error) {
	if info, ok := s.store.Lease(id); ok {
		return info, true, nil
	}
	if err := s.readFence(ctx); err != nil {
		return kv.LeaseInfo{}, false, err
	}
	info, ok := s.store.Lease(id)
	return info, ok, nil
}

// LeaseTimeToLive answers from the leader's lessor; a lease that does not
// exist gets TTL -1, as in etcd.
func (l *leaseService) LeaseTimeToLive(ctx context.Context, r *pb.LeaseTimeToLiveRequest) (*pb.LeaseTimeToLiveResponse, error) {
	s := l.s
	var resp *pb.LeaseTimeToLiveResponse
	err := s.onLeader(ctx, func(ctx context.Context) error {
		info, ok, err := s.leaseInfo(ctx, r.ID)
		if err != nil {
			return err
		}
		if !ok {
			resp = &pb.LeaseTimeToLiveResponse{ID: r.ID, TTL: -1}
			return nil
		}
		s.syncLessorRole()
		left, ok := s.lessor.remaining(r.ID, info.TTL, time.Now())
		if !ok {
			return rpctypes.ErrGRPCNotLeader
		}
		resp = &pb.LeaseTimeToLiveResponse{ID: r.ID, TTL: int64(left.Seconds()), GrantedTTL: info.TTL}
		if r.Keys {
			resp.Keys = info.Keys
		}
		return nil
	}, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewLeaseClient(cc).LeaseTimeToLive(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	resp.Header = s.header(s.store.Revision())
	return resp, nil
}

// LeaseLeases lists the leases of the local store.
func (l *leaseService) LeaseLeases(ctx context.Context, r *pb.LeaseLeasesRequest) (*pb.LeaseLeasesResponse, error) {
	s := l.s
	resp := &pb.LeaseLeasesResponse{Header: s.header(s.store.Revision())}
	for _, ls := range s.store.Leases() {
		resp.Leases = append(resp.Leases, &pb.LeaseStatus{ID: ls.ID})
	}
	return resp, nil
}
