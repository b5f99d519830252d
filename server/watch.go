package server

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/kv"
)

// watchService is etcd's Watch service. Each gRPC stream is one
// kv.WatchStream, fed by the local store as entries apply (on any member,
// so watches need no leader); see watchStream.
type watchService struct {
	pb.UnimplementedWatchServer
	s *Server
}

// watchStream serves one Watch stream with two goroutines: the gRPC
// handler's, which sends what kv.WatchStream.Next returns, and a receiver
// started with goLoop, which handles the client's create, cancel and
// progress requests (the WatchStream queues their answers, so only the
// sender writes to the stream). The receiver ends when the handler has
// returned (gRPC ends the stream then); Stop joins it.
type watchStream struct {
	s      *Server
	stream pb.Watch_WatchServer
	ws     *kv.WatchStream

	// mu guards fragment, the watchers created with fragment set. The
	// receiver holds it across creating a watcher, so the sender, which
	// reads it after taking a response, sees the watcher's flag.
	mu       sync.Mutex
	fragment map[int64]bool
}

func (w *watchService) Watch(stream pb.Watch_WatchServer) error {
	s := w.s
	if n := s.watchStreams.Add(1); n > int64(s.cfg.MaxWatchStreams) {
		s.watchStreams.Add(-1)
		return status.Errorf(codes.ResourceExhausted, "etcdserver: too many watch streams on this member (limit %d)", s.cfg.MaxWatchStreams)
	}
	defer s.watchStreams.Add(-1)
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	defer context.AfterFunc(s.stopCtx, cancel)()
	st := &watchStream{s: s, stream: stream, ws: s.store.NewWatchStream(), fragment: make(map[int64]bool)}
	defer st.ws.Close()
	recvErr := make(chan error, 1)
	if !s.goLoop(func() { recvErr <- st.recvLoop(cancel) }) {
		return rpctypes.ErrGRPCStopped
	}
	sendErr := st.sendLoop(ctx)
	select {
	case err := <-recvErr:
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case errors.Is(err, kv.ErrWatchStreamFull):
			return status.Error(codes.ResourceExhausted, "etcdserver: "+err.Error())
		case err != nil:
			return err
		}
	default:
	}
	if s.stopCtx.Err() != nil {
		return rpctypes.ErrGRPCStopped
	}
	return sendErr
}

// recvLoop handles the client's requests until the stream ends; cancel
// ends the sender.
func (st *watchStream) recvLoop(cancel context.CancelFunc) error {
	defer cancel()
	for {
		req, err := st.stream.Recv()
		if err != nil {
			return err
		}
		switch u := req.RequestUnion.(type) {
		case *pb.WatchRequest_CreateRequest:
			if err := st.create(u.CreateRequest); err != nil {
				return err
			}
		case *pb.WatchRequest_CancelRequest:
			id := u.CancelRequest.WatchId
			err := st.ws.Cancel(id)
			if errors.Is(err, kv.ErrWatchStreamFull) || errors.Is(err, kv.ErrWatchStreamClosed) {
				return err
			}
			st.mu.Lock()
			delete(st.fragment, id)
			st.mu.Unlock()
		case *pb.WatchRequest_ProgressRequest:
			st.ws.RequestProgressAll()
		}
		// Other requests are ignored, as etcd ignores them.
	}
}

// create creates a watcher. A refused create is answered on the stream
// (created and canceled, with the reason); only a stream that is closed or
// whose client does not read ends.
func (st *watchStream) create(r *pb.WatchCreateRequest) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	id, err := st.ws.Watch(r)
	if errors.Is(err, kv.ErrWatchStreamFull) || errors.Is(err, kv.ErrWatchStreamClosed) {
		return err
	}
	if err == nil && r.Fragment {
		st.fragment[id] = true
	}
	return nil
}

// sendLoop sends the stream's responses until ctx ends or sending fails.
// Every WatchProgressNotifyInterval it asks for the progress notifications
// of idle watchers (kv.WatchStream.ProgressTick).
func (st *watchStream) sendLoop(ctx context.Context) error {
	interval := st.s.cfg.WatchProgressNotifyInterval
	tick := time.Now().Add(interval)
	for {
		nctx, cancel := context.WithDeadline(ctx, tick)
		resp, err := st.ws.Next(nctx)
		cancel()
		if err == nil {
			err = st.send(resp)
		} else if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
		if err != nil {
			return err
		}
		if now := time.Now(); !now.Before(tick) {
			st.ws.ProgressTick()
			tick = now.Add(interval)
		}
	}
}

// send sends one response with a full header, in fragments if its watcher
// asked for them and it exceeds MaxRequestBytes (as etcd splits them).
// resp is shared with the store and is not modified.
func (st *watchStream) send(resp *pb.WatchResponse) error {
	st.mu.Lock()
	frag := st.fragment[resp.WatchId]
	st.mu.Unlock()
	out := &pb.WatchResponse{
		Header:          st.s.header(resp.GetHeader().GetRevision()),
		WatchId:         resp.WatchId,
		Created:         resp.Created,
		Canceled:        resp.Canceled,
		CompactRevision: resp.CompactRevision,
		CancelReason:    resp.CancelReason,
		Events:          resp.Events,
	}
	limit := st.s.cfg.MaxRequestBytes
	if !frag || len(out.Events) < 2 || proto.Size(out) < limit {
		return st.stream.Send(out)
	}
	events := out.Events
	for len(events) > 0 {
		cur := &pb.WatchResponse{Header: out.Header, WatchId: out.WatchId, Created: out.Created,
			Canceled: out.Canceled, CompactRevision: out.CompactRevision, CancelReason: out.CancelReason,
			Fragment: true, Events: make([]*mvccpb.Event, 0, 16)}
		n := 0
		for _, ev := range events {
			cur.Events = append(cur.Events, ev)
			if len(cur.Events) > 1 && proto.Size(cur) >= limit {
				cur.Events = cur.Events[:len(cur.Events)-1]
				break
			}
			n++
		}
		events = events[n:]
		cur.Fragment = len(events) > 0
		if err := st.stream.Send(cur); err != nil {
			return err
		}
	}
	return nil
}
