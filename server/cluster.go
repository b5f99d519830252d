package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"

	"github.com/ironraft/ironraft/node"
)

// clusterService is etcd's Cluster service. Membership is Raft's (the
// node's configuration); names, peer and client URLs come from the member
// table the state machine keeps.
type clusterService struct {
	pb.UnimplementedClusterServer
	s *Server
}

// members returns the cluster's members, by ID, as etcd lists them. A
// member that has not published its attributes yet has no name and no
// client URLs; its peer URL is then derived from its transport address.
func (s *Server) members() []*pb.Member {
	scheme := "http"
	if s.peerClientTLS != nil {
		scheme = "https"
	}
	var out []*pb.Member
	for _, m := range s.node.Members() {
		a, _ := s.sm.member(m.ID)
		pm := &pb.Member{ID: m.ID, Name: a.name, PeerURLs: a.peerURLs, ClientURLs: a.clientURLs, IsLearner: m.Learner}
		if len(pm.PeerURLs) == 0 && m.Addr != "" {
			pm.PeerURLs = []string{scheme + "://" + m.Addr}
		}
		out = append(out, pm)
	}
	slices.SortFunc(out, func(a, b *pb.Member) int { return cmpUint(a.ID, b.ID) })
	return out
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (c *clusterService) MemberList(ctx context.Context, r *pb.MemberListRequest) (*pb.MemberListResponse, error) {
	s := c.s
	if r.Linearizable {
		if err := s.readFence(ctx); err != nil {
			return nil, err
		}
	}
	return &pb.MemberListResponse{Header: s.header(s.store.Revision()), Members: s.members()}, nil
}

// MemberAdd adds a member as a learner. A member added as a voter
// (IsLearner false) also starts as a learner and the leader promotes it as
// soon as its log has caught up: etcd makes it a voter at once, which
// changes the quorum before the new member even runs. The response reports
// the role requested; MemberList lists it as a learner until promoted.
func (c *clusterService) MemberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	var resp *pb.MemberAddResponse
	err := c.s.onLeader(ctx, func(ctx context.Context) (err error) {
		resp, err = c.s.memberAdd(ctx, r)
		return err
	}, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterClient(cc).MemberAdd(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	resp.Header = c.s.header(c.s.store.Revision())
	return resp, nil
}

func (s *Server) memberAdd(ctx context.Context, r *pb.MemberAddRequest) (*pb.MemberAddResponse, error) {
	if len(r.PeerURLs) == 0 {
		return nil, rpctypes.ErrGRPCMemberBadURLs
	}
	for _, u := range r.PeerURLs {
		if _, err := parseURL(u); err != nil {
			return nil, rpctypes.ErrGRPCMemberBadURLs
		}
	}
	current := s.members()
	for _, m := range current {
		for _, u := range m.PeerURLs {
			if slices.Contains(r.PeerURLs, u) {
				return nil, rpctypes.ErrGRPCPeerURLExist
			}
		}
	}
	now := time.Now()
	id := computeMemberID(r.PeerURLs, "", &now)
	if id == 0 || slices.ContainsFunc(current, func(m *pb.Member) bool { return m.ID == id }) {
		return nil, rpctypes.ErrGRPCMemberExist
	}
	attrs := &membershippb.Member{ID: id, RaftAttributes: &membershippb.RaftAttributes{
		PeerUrls: r.PeerURLs, IsLearner: r.IsLearner}}
	if err := s.proposeMember(ctx, kindMemberAdded, attrs); err != nil {
		return nil, err
	}
	if err := s.node.AddLearner(ctx, id, hostOf(r.PeerURLs[0])); err != nil {
		s.forgetMember(id)
		return nil, toGRPCError(err)
	}
	s.log.Info("member added", "added", fmt.Sprintf("%x", id), "peer-urls", r.PeerURLs, "learner", r.IsLearner)
	// The new member is reported in the role requested (as etcd does, and
	// etcdctl prints); MemberList shows it as a learner until promoted.
	added := &pb.Member{ID: id, PeerURLs: r.PeerURLs, IsLearner: r.IsLearner}
	members := s.members()
	if i := slices.IndexFunc(members, func(m *pb.Member) bool { return m.ID == id }); i >= 0 {
		members[i].IsLearner = r.IsLearner
	} else {
		members = append(members, added) // the node's configuration may lag its apply
	}
	return &pb.MemberAddResponse{Member: added, Members: members}, nil
}

// proposeMember proposes a member-table command and waits for it.
func (s *Server) proposeMember(ctx context.Context, kind byte, m *membershippb.Member) error {
	cmd, err := encodeCommand(kind, m)
	if err != nil {
		return toGRPCError(err)
	}
	_, err = s.propose(ctx, cmd)
	return err
}

// forgetMember drops a member's attributes from the table, best effort:
// an entry left behind is harmless (listings follow Raft's membership).
func (s *Server) forgetMember(id uint64) {
	ctx, cancel := context.WithTimeout(s.stopCtx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.proposeMember(ctx, kindMemberForget, &membershippb.Member{ID: id}); err != nil {
		s.log.Debug("could not drop a member's attributes", "id", fmt.Sprintf("%x", id), "err", err)
	}
}

func (c *clusterService) MemberRemove(ctx context.Context, r *pb.MemberRemoveRequest) (*pb.MemberRemoveResponse, error) {
	s := c.s
	err := s.onLeader(ctx, func(ctx context.Context) error {
		if !slices.ContainsFunc(s.node.Members(), func(m node.Member) bool { return m.ID == r.ID }) {
			return rpctypes.ErrGRPCMemberNotFound
		}
		if err := s.node.RemoveMember(ctx, r.ID); err != nil {
			return toGRPCError(err)
		}
		s.log.Info("member removed", "removed", fmt.Sprintf("%x", r.ID))
		if r.ID != s.id {
			s.forgetMember(r.ID)
		}
		return nil
	}, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewClusterClient(cc).MemberRemove(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.MemberRemoveResponse{Header: s.header(s.store.Revision()), Members: s.members()}, nil
}

// MemberPromote promotes a learner whose log has caught up with the
// leader's; one that does not catch up within an election timeout gets
// ErrGRPCLearnerNotReady, as in etcd.
func (c *clusterService) MemberPromote(ctx context.Context, r *pb.MemberPromoteRequest) (*pb.MemberPromoteResponse, error) {
	s := c.s
	err := s.onLeader(ctx, func(ctx context.Context) error {
		i := slices.IndexFunc(s.node.Members(), func(m node.Member) bool { return m.ID == r.ID })
		if i < 0 {
			return rpctypes.ErrGRPCMemberNotFound
		}
		m := s.node.Members()[i]
		if !m.Learner {
			return rpctypes.ErrGRPCMemberNotLearner
		}
		return s.promote(ctx, m)
	}, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewClusterClient(cc).MemberPromote(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.MemberPromoteResponse{Header: s.header(s.store.Revision()), Members: s.members()}, nil
}

// promote makes learner m a voter if it catches up within an election
// timeout.
func (s *Server) promote(ctx context.Context, m node.Member) error {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ElectionTimeout)
	defer cancel()
	err := s.node.AddVoter(pctx, m.ID, m.Addr)
	switch {
	case err == nil:
		s.log.Info("learner promoted", "promoted", fmt.Sprintf("%x", m.ID))
		return nil
	case errors.Is(err, node.ErrTimeout) && !errors.Is(err, node.ErrOutcomeUnknown):
		return rpctypes.ErrGRPCLearnerNotReady
	}
	return toGRPCError(err)
}

// promoteLoop runs on every member and acts on the leader: it promotes the
// learners that MemberAdd added as voters, once they caught up.
func (s *Server) promoteLoop() {
	t := time.NewTicker(s.cfg.ElectionTimeout)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.stopCtx.Done():
			return
		}
		if !s.isLeader() {
			continue
		}
		for _, m := range s.node.Members() {
			if a, ok := s.sm.member(m.ID); ok && m.Learner && a.promote {
				if err := s.promote(s.stopCtx, m); err != nil {
					s.log.Debug("learner not promoted yet", "learner", fmt.Sprintf("%x", m.ID), "err", err)
				}
			}
		}
	}
}

// publishLoop proposes this member's name, client and peer URLs once after
// every start (as etcd publishes its attributes), retrying until it
// succeeds or the server stops.
func (s *Server) publishLoop() {
	m := &membershippb.Member{ID: s.id,
		MemberAttributes: &membershippb.Attributes{Name: s.cfg.Name, ClientUrls: s.cfg.AdvertiseClientURLs},
		RaftAttributes:   &membershippb.RaftAttributes{PeerUrls: s.cfg.InitialAdvertisePeerURLs}}
	for {
		err := s.proposeMember(s.stopCtx, kindPublish, m)
		if err == nil {
			s.log.Info("published member attributes", "client-urls", s.cfg.AdvertiseClientURLs)
			return
		}
		s.log.Debug("publishing member attributes", "err", err)
		t := time.NewTimer(s.cfg.ElectionTimeout)
		select {
		case <-t.C:
		case <-s.stopCtx.Done():
			t.Stop()
			return
		case <-s.node.Done():
			t.Stop()
			return
		}
	}
}
