package server

import (
	"context"
	"errors"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ironraft/ironraft/node"
)

// toGRPCError maps an error to what etcd answers, so that clients, which
// recognise errors by their text, behave as they do with etcd:
//
//	etcd's own errors (rpctypes, from kv)     unchanged
//	node.ErrStopped, node.ErrRemoved           ErrGRPCStopped
//	*node.NotLeaderError, no leader known      ErrGRPCNoLeader
//	*node.NotLeaderError, another leader       ErrGRPCNotLeader
//	node.ErrOverloaded                         ErrGRPCRequestTooManyRequests
//	node.ErrTooLarge                           ErrGRPCRequestTooLarge
//	context.Canceled                           ErrGRPCCanceled
//	node.ErrOutcomeUnknown, node.ErrTimeout,
//	context.DeadlineExceeded                   ErrGRPCTimeout
//	anything else                              codes.Internal with its text
func toGRPCError(err error) error {
	if err == nil {
		return nil
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		if _, ok := err.(interface{ GRPCStatus() *status.Status }); ok {
			return err
		}
		return se.GRPCStatus().Err()
	}
	var nl *node.NotLeaderError
	switch {
	case errors.Is(err, node.ErrStopped), errors.Is(err, node.ErrRemoved):
		return rpctypes.ErrGRPCStopped
	case errors.As(err, &nl) && nl.Leader == 0:
		return rpctypes.ErrGRPCNoLeader
	case nl != nil:
		return rpctypes.ErrGRPCNotLeader
	case errors.Is(err, node.ErrOverloaded):
		return rpctypes.ErrGRPCRequestTooManyRequests
	case errors.Is(err, node.ErrTooLarge):
		return rpctypes.ErrGRPCRequestTooLarge
	case errors.Is(err, context.Canceled):
		return rpctypes.ErrGRPCCanceled
	case errors.Is(err, node.ErrOutcomeUnknown), errors.Is(err, node.ErrTimeout),
		errors.Is(err, context.DeadlineExceeded):
		return rpctypes.ErrGRPCTimeout
	}
	return status.Error(codes.Internal, err.Error())
}

// isRetryableOnLeader reports whether a call forwarded to the leader may be
// tried again (on the same or a new leader): the member called was not the
// leader, none was known, or it could not be reached. A timeout is not
// retried: the call's outcome is unknown.
func isRetryableOnLeader(err error) bool {
	s := status.Convert(err)
	switch s.Code() {
	case codes.Unavailable:
		return s.Message() != rpctypes.ErrorDesc(rpctypes.ErrGRPCTimeout)
	case codes.FailedPrecondition:
		return s.Message() == rpctypes.ErrorDesc(rpctypes.ErrGRPCNotLeader)
	}
	return false
}
