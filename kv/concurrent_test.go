package kv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// randomWrite returns a random write command over keys k0..k9.
func randomWrite(rng *rand.Rand) *pb.InternalRaftRequest {
	key := func() []byte { return fmt.Appendf(nil, "k%d", rng.IntN(10)) }
	switch rng.IntN(10) {
	case 0:
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key()}}
	case 1:
		return &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("k2"), RangeEnd: []byte("k5")}}
	case 2:
		a, b := key(), key()
		if bytes.Equal(a, b) {
			b = []byte("x")
		}
		return &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Success: []*pb.RequestOp{
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: a, Value: []byte("t")}}},
				{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: b, Value: []byte("t")}}},
			},
		}}
	default:
		return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key(), Value: fmt.Appendf(nil, "v%d", rng.IntN(100))}}
	}
}

// collect reads one stream until the stream-wide progress at revision
// final, and returns each watcher's events.
func collect(ctx context.Context, ws *WatchStream, final <-chan int64) (map[int64][]*mvccpb.Event, map[int64]int64, error) {
	evs := make(map[int64][]*mvccpb.Event)
	createdAt := make(map[int64]int64)
	want := int64(-1)
	for {
		resp, err := ws.Next(ctx)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case resp.Created:
			createdAt[resp.WatchId] = resp.Header.Revision
		case resp.WatchId == InvalidWatchID:
			if want < 0 {
				want = <-final
			}
			if resp.Header.Revision == want {
				return evs, createdAt, nil
			}
		case resp.Canceled:
			return nil, nil, fmt.Errorf("unexpected cancel %v", resp)
		default:
			evs[resp.WatchId] = append(evs[resp.WatchId], resp.Events...)
		}
	}
}

// TestWatchConcurrentApplyAndConsume runs Apply, watchers consuming
// (falling behind on a small queue, catching up), serializable reads and a
// snapshot at once, then checks every watcher saw exactly the events a
// watcher reading history afterwards sees.
func TestWatchConcurrentApplyAndConsume(t *testing.T) {
	h := newHarnessConfig(t, Config{WatchQueueEvents: 8, WatchBatchEvents: 5, WatchScanRecords: 20})
	s := h.s
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	reqs := []*pb.WatchCreateRequest{
		{Key: []byte("k"), RangeEnd: []byte("l"), PrevKv: true},
		{Key: []byte("k"), RangeEnd: []byte("l"), StartRevision: 1},
		{Key: []byte("k3")},
		{Key: []byte("k5"), RangeEnd: []byte{0}, Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NODELETE}},
	}
	type result struct {
		evs       map[int64][]*mvccpb.Event
		createdAt map[int64]int64
		err       error
	}
	const midway = 3 // this stream's watcher is created while Apply runs
	streams := make([]*WatchStream, len(reqs))
	finals := make([]chan int64, len(reqs))
	results := make([]result, len(reqs))
	reached100, midwayCreated := make(chan struct{}), make(chan struct{})
	for i, r := range reqs {
		streams[i] = s.NewWatchStream()
		defer streams[i].Close()
		finals[i] = make(chan int64, 1)
		if i != midway {
			if _, err := streams[i].Watch(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == midway {
				<-reached100
				_, err := streams[i].Watch(r)
				close(midwayCreated)
				if err != nil {
					results[i].err = err
					return
				}
			}
			if i < 2 { // slow consumers: their watchers fall behind
				for s.Revision() < 200 {
					time.Sleep(time.Millisecond)
				}
			}
			evs, createdAt, err := collect(ctx, streams[i], finals[i])
			results[i] = result{evs, createdAt, err}
		}()
	}
	done := make(chan struct{})
	wg.Add(2)
	go func() { // serializable reads
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := s.Range(&pb.RangeRequest{Key: []byte("k"), RangeEnd: []byte("l")}); err != nil {
				t.Errorf("Range: %v", err)
				return
			}
		}
	}()
	go func() { // a snapshot written while Apply runs
		defer wg.Done()
		for s.Revision() < 50 {
			time.Sleep(time.Millisecond)
		}
		sn := s.Snapshot()
		if err := sn.Write(io.Discard); err != nil {
			t.Errorf("Snapshot.Write: %v", err)
		}
		sn.Release()
	}()

	rng := rand.New(rand.NewPCG(1, 2))
	midway100 := false
	for range 400 {
		if _, err := h.apply(randomWrite(rng)); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if s.Revision() >= 100 && !midway100 {
			midway100 = true
			close(reached100)
			<-midwayCreated
		}
	}
	if !midway100 {
		t.Fatalf("400 writes made only %d revisions", s.Revision())
	}
	final := s.Revision()
	close(done)
	for i := range streams {
		finals[i] <- final
		streams[i].RequestProgressAll()
	}
	wg.Wait()

	for i, r := range reqs {
		res := results[i]
		if res.err != nil {
			t.Fatalf("stream %d: %v", i, res.err)
		}
		// A watcher that reads everything from history afterwards.
		replay := proto.Clone(r).(*pb.WatchCreateRequest)
		replay.StartRevision = res.createdAt[0] + 1
		if r.StartRevision != 0 {
			replay.StartRevision = r.StartRevision
		}
		ws := s.NewWatchStream()
		ws.Watch(replay)
		ws.RequestProgressAll()
		finalCh := make(chan int64, 1)
		finalCh <- final
		want, _, err := collect(ctx, ws, finalCh)
		ws.Close()
		if err != nil {
			t.Fatalf("replay of stream %d: %v", i, err)
		}
		if len(want[0]) == 0 {
			t.Fatalf("stream %d: the replay saw no events", i)
		}
		if diff := protoDiff(want[0], res.evs[0]); diff != "" {
			t.Errorf("stream %d (%v): events (-history +live):\n%s", i, r, diff)
		}
	}
}
