package server

import (
	"context"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/api/v3/version"
	"google.golang.org/grpc"

	"github.com/ironraft/ironraft/node"
)

// maintenanceService is etcd's Maintenance service: Status, Alarm (always
// an empty list: ironkv raises no alarms) and MoveLeader; the rest answer
// codes.Unimplemented.
type maintenanceService struct {
	pb.UnimplementedMaintenanceServer
	s *Server
}

// dbBaseBytes models the fixed part of etcd's backend file: a new etcd's
// bbolt file holds 20 KiB before the first write (etcdctl shows "20 kB").
const dbBaseBytes = 20 * 1024

// dbSize is the database size Status and the metrics report: the kv
// store's size in memory plus dbBaseBytes, so that it is never 0 (etcdctl
// endpoint status divides by it).
func (s *Server) dbSize() int64 { return dbBaseBytes + s.store.Size() }

// Status reports this member's state. Version is the etcd API version of
// the stubs ironkv is built on, so etcdctl and clients treat it as that
// etcd. DbSize and DbSizeInUse are dbSize (memory has no free pages to
// tell apart); DbSizeQuota is QuotaBackendBytes, which is not enforced.
func (m *maintenanceService) Status(ctx context.Context, r *pb.StatusRequest) (*pb.StatusResponse, error) {
	s := m.s
	st, err := s.node.Status(ctx)
	if err != nil {
		return nil, toGRPCError(err)
	}
	lead, _ := s.node.Leader()
	size := s.dbSize()
	isLearner := slices.ContainsFunc(s.node.Members(), func(mb node.Member) bool { return mb.ID == s.id && mb.Learner })
	return &pb.StatusResponse{
		Header:           s.header(s.store.Revision()),
		Version:          version.Version,
		DbSize:           size,
		DbSizeInUse:      size,
		Leader:           lead,
		RaftIndex:        st.HardState.GetCommit(),
		RaftTerm:         st.HardState.GetTerm(),
		RaftAppliedIndex: st.AppliedIndex,
		IsLearner:        isLearner,
		DbSizeQuota:      s.cfg.QuotaBackendBytes,
	}, nil
}

// Alarm answers every request with no alarms: ironkv has no space quota
// and no corruption check that would raise one.
func (m *maintenanceService) Alarm(ctx context.Context, r *pb.AlarmRequest) (*pb.AlarmResponse, error) {
	return &pb.AlarmResponse{Header: m.s.header(m.s.store.Revision())}, nil
}

// MoveLeader hands leadership to another voter. It runs on the leader (a
// follower forwards it there).
func (m *maintenanceService) MoveLeader(ctx context.Context, r *pb.MoveLeaderRequest) (*pb.MoveLeaderResponse, error) {
	s := m.s
	err := s.onLeader(ctx, func(ctx context.Context) error {
		if !slices.ContainsFunc(s.node.Members(), func(mb node.Member) bool { return mb.ID == r.TargetID && !mb.Learner }) {
			return rpctypes.ErrGRPCBadLeaderTransferee
		}
		return toGRPCError(s.node.TransferLeadership(ctx, r.TargetID))
	}, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewMaintenanceClient(cc).MoveLeader(ctx, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &pb.MoveLeaderResponse{Header: s.header(s.store.Revision())}, nil
}
