package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// forwardedKey marks a call one member forwarded to the leader: the
// receiver runs it or refuses it (ErrGRPCNotLeader), never forwards it on,
// so a call cannot loop between members that disagree on the leader.
const forwardedKey = "ironkv-forwarded"

// forwarder holds the client connections to other members' client URLs,
// for the calls that must run on the leader (lease keep-alive and
// time-to-live, membership changes, leadership moves). etcd forwards its
// lease renewals over its peer HTTP port; ironkv's peer port speaks only
// the Raft transport, so it calls the leader's etcd API instead.
type forwarder struct {
	s *Server

	mu     sync.Mutex
	closed bool
	// conns by target (host:port); at most one per member's first client
	// URL, so bounded by the members ever seen leading.
	conns map[string]*grpc.ClientConn
}

func newForwarder(s *Server) *forwarder {
	return &forwarder{s: s, conns: make(map[string]*grpc.ClientConn)}
}

// conn returns a connection to member id's first advertised client URL.
func (f *forwarder) conn(id uint64) (*grpc.ClientConn, error) {
	a, ok := f.s.sm.member(id)
	if !ok || len(a.clientURLs) == 0 {
		return nil, status.Errorf(codes.Unavailable, "etcdserver: leader %x has not published its client URLs yet", id)
	}
	u, err := url.Parse(a.clientURLs[0])
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "etcdserver: leader %x has a bad client URL %q", id, a.clientURLs[0])
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, rpctypes.ErrGRPCStopped
	}
	key := u.Scheme + "://" + u.Host
	if cc, ok := f.conns[key]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if u.Scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if f.s.fwdTLS != nil {
			cfg = f.s.fwdTLS.Clone()
		}
		creds = credentials.NewTLS(cfg)
	}
	cc, err := grpc.NewClient(u.Host, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "etcdserver: cannot reach leader %x at %s: %v", id, u.Host, err)
	}
	f.conns[key] = cc
	return cc, nil
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for k, cc := range f.conns {
		cc.Close()
		delete(f.conns, k)
	}
}

// isForwarded reports whether the call came forwarded from another member.
func isForwarded(ctx context.Context) bool {
	md, ok := metadata.FromIncomingContext(ctx)
	return ok && len(md.Get(forwardedKey)) > 0
}

// onLeader runs a call that must run on the leader: local if this member
// leads, else remote on a connection to the leader. It retries, on the
// same or a new leader, while the leader is unknown, changes, or cannot be
// reached, until RequestTimeout. Both functions return etcd's gRPC errors.
func (s *Server) onLeader(ctx context.Context, local func(context.Context) error,
	remote func(context.Context, *grpc.ClientConn) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	for {
		err := s.tryOnLeader(ctx, local, remote)
		if err == nil || !isRetryableOnLeader(err) || isForwarded(ctx) {
			return err
		}
		t := time.NewTimer(s.cfg.HeartbeatInterval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		case <-s.stopCtx.Done():
			t.Stop()
			return rpctypes.ErrGRPCStopped
		}
	}
}

func (s *Server) tryOnLeader(ctx context.Context, local func(context.Context) error,
	remote func(context.Context, *grpc.ClientConn) error) error {
	lead, _ := s.node.Leader()
	switch {
	case lead == s.id:
		return local(ctx)
	case isForwarded(ctx):
		return rpctypes.ErrGRPCNotLeader
	case lead == 0:
		return rpctypes.ErrGRPCNoLeader
	}
	cc, err := s.fwd.conn(lead)
	if err != nil {
		return err
	}
	fctx := metadata.NewOutgoingContext(ctx, metadata.Pairs(forwardedKey, fmt.Sprintf("%x", s.id)))
	return remote(fctx, cc)
}
