package kv

import (
	"context"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// next returns the stream's next response, failing after a deadline.
func next(t *testing.T, ws *WatchStream) *pb.WatchResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := ws.Next(ctx)
	if err != nil {
		t.Fatalf("Next() = %v", err)
	}
	return resp
}

// none checks that the stream has nothing to hand out now.
func none(t *testing.T, ws *WatchStream) {
	t.Helper()
	resp, err := ws.poll()
	if resp != nil || err != nil {
		t.Fatalf("poll() = %v, %v, want nothing", resp, err)
	}
}

func watch(t *testing.T, ws *WatchStream, r *pb.WatchCreateRequest) int64 {
	t.Helper()
	id, err := ws.Watch(r)
	if err != nil {
		t.Fatalf("Watch(%v) = %v", r, err)
	}
	return id
}

func putEv(kv *mvccpb.KeyValue) *mvccpb.Event { return &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv} }

func delEv(key string, rev int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}}
}

func withPrev(ev *mvccpb.Event, prev *mvccpb.KeyValue) *mvccpb.Event {
	ev.PrevKv = prev
	return ev
}

func created(rev, id int64) *pb.WatchResponse {
	return &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: rev}, WatchId: id, Created: true}
}

func events(rev, id int64, evs ...*mvccpb.Event) *pb.WatchResponse {
	return &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: rev}, WatchId: id, Events: evs}
}

func expect(t *testing.T, ws *WatchStream, want ...*pb.WatchResponse) {
	t.Helper()
	for i, w := range want {
		if diff := protoDiff(w, next(t, ws)); diff != "" {
			t.Fatalf("response %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestWatchSingleKey(t *testing.T) {
	h := newHarness(t)
	h.put("a", "0") // 2
	ws := h.s.NewWatchStream()
	defer ws.Close()
	id := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a")})
	h.put("a", "1") // 3
	h.put("b", "1") // 4
	h.del("a", "")  // 5
	expect(t, ws,
		created(2, id),
		events(3, id, putEv(kv("a", "1", 2, 3, 2, 0))),
		events(5, id, delEv("a", 5)),
	)
	none(t, ws)
}

func TestWatchPrefixPrevKVAndTxn(t *testing.T) {
	h := newHarness(t)
	h.put("p/a", "0") // 2
	ws := h.s.NewWatchStream()
	defer ws.Close()
	id := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("p/"), RangeEnd: []byte("p0"), PrevKv: true})
	if _, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("p/a", "1"), opPut("q", "1"), opPut("p/b", "1")}}); err != nil {
		t.Fatal(err)
	} // 3
	h.del("p/", "p0") // 4
	expect(t, ws,
		created(2, id),
		events(3, id,
			withPrev(putEv(kv("p/a", "1", 2, 3, 2, 0)), kv("p/a", "0", 2, 2, 1, 0)),
			putEv(kv("p/b", "1", 3, 3, 1, 0)), // a create has no previous value
		),
		events(4, id,
			withPrev(delEv("p/a", 4), kv("p/a", "1", 2, 3, 2, 0)),
			withPrev(delEv("p/b", 4), kv("p/b", "1", 3, 3, 1, 0)),
		),
	)
}

func TestWatchFromPastRevisionThenLive(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // 2
	h.put("b", "1") // 3
	h.del("a", "")  // 4
	h.put("c", "1") // 5
	ws := h.s.NewWatchStream()
	defer ws.Close()
	id := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), RangeEnd: []byte("c"), StartRevision: 2})
	fromKey := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("b"), RangeEnd: []byte{0}, StartRevision: 4})
	// Watchers catching up get no live events: they read revision 6 from
	// history with the rest.
	h.put("b", "2") // 6
	expect(t, ws,
		created(5, id),
		created(5, fromKey),
		events(6, id, putEv(kv("a", "1", 2, 2, 1, 0)), putEv(kv("b", "1", 3, 3, 1, 0)), delEv("a", 4), putEv(kv("b", "2", 3, 6, 2, 0))),
		events(6, fromKey, putEv(kv("c", "1", 5, 5, 1, 0)), putEv(kv("b", "2", 3, 6, 2, 0))),
	)
	none(t, ws)
	h.put("b", "3") // 7: both are synced now
	expect(t, ws,
		events(7, id, putEv(kv("b", "3", 3, 7, 3, 0))),
		events(7, fromKey, putEv(kv("b", "3", 3, 7, 3, 0))),
	)
}

func TestWatchFutureStartRevision(t *testing.T) {
	h := newHarness(t)
	ws := h.s.NewWatchStream()
	defer ws.Close()
	id := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 4})
	h.put("a", "1") // 2
	h.put("a", "2") // 3
	h.put("a", "3") // 4
	expect(t, ws, created(1, id), events(4, id, putEv(kv("a", "3", 2, 4, 3, 0))))
	none(t, ws)
}

func TestWatchFilters(t *testing.T) {
	h := newHarness(t)
	ws := h.s.NewWatchStream()
	defer ws.Close()
	noPut := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}})
	noDel := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), Filters: []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NODELETE}})
	h.put("a", "1") // 2
	h.del("a", "")  // 3
	expect(t, ws,
		created(1, noPut), created(1, noDel),
		events(2, noDel, putEv(kv("a", "1", 2, 2, 1, 0))),
		events(3, noPut, delEv("a", 3)),
	)
	none(t, ws)
}

func TestWatchCompactedStart(t *testing.T) {
	h := newHarness(t)
	for range 5 {
		h.put("a", "x") // 2..6
	}
	if err := h.compact(5); err != nil {
		t.Fatal(err)
	}
	ws := h.s.NewWatchStream()
	defer ws.Close()
	old := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 4})
	atCompaction := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 5})
	expect(t, ws,
		created(6, old), created(6, atCompaction),
		&pb.WatchResponse{Header: &pb.ResponseHeader{}, WatchId: old, CompactRevision: 5, Canceled: true},
		events(6, atCompaction, putEv(kv("a", "x", 2, 5, 4, 0)), putEv(kv("a", "x", 2, 6, 5, 0))),
	)
	if err := ws.Cancel(old); !errors.Is(err, ErrWatcherNotExist) {
		t.Errorf("Cancel(compacted watcher) = %v, want %v", err, ErrWatcherNotExist)
	}
}

func TestWatchCreateErrorsAndIDs(t *testing.T) {
	h := newHarness(t)
	ws := h.s.NewWatchStream()
	defer ws.Close()
	refused := func(reason string) *pb.WatchResponse {
		return &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 1}, WatchId: InvalidWatchID, Created: true, Canceled: true, CancelReason: reason}
	}
	tests := []struct {
		req     *pb.WatchCreateRequest
		wantID  int64
		wantErr error
	}{
		{&pb.WatchCreateRequest{Key: []byte("a")}, 0, nil},
		{&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 2}, 2, nil},
		{&pb.WatchCreateRequest{Key: []byte("a")}, 1, nil},
		{&pb.WatchCreateRequest{Key: []byte("a")}, 3, nil},
		{&pb.WatchCreateRequest{Key: []byte("a"), WatchId: 2}, InvalidWatchID, ErrWatcherDuplicateID},
		{&pb.WatchCreateRequest{Key: []byte("b"), RangeEnd: []byte("a")}, InvalidWatchID, ErrEmptyWatcherRange},
		{&pb.WatchCreateRequest{Key: []byte("b"), RangeEnd: []byte("b")}, InvalidWatchID, ErrEmptyWatcherRange},
	}
	for _, tt := range tests {
		id, err := ws.Watch(tt.req)
		if id != tt.wantID || !errors.Is(err, tt.wantErr) {
			t.Errorf("Watch(%v) = %d, %v, want %d, %v", tt.req, id, err, tt.wantID, tt.wantErr)
		}
		want := created(1, tt.wantID)
		if err != nil {
			want = refused(err.Error())
		}
		expect(t, ws, want)
	}
	if got, want := ErrWatcherDuplicateID.Error(), "mvcc: duplicate watch ID provided on the WatchStream"; got != want {
		t.Errorf("ErrWatcherDuplicateID = %q, want etcd's %q", got, want)
	}
}

func TestWatchCancelDropsQueuedEvents(t *testing.T) {
	h := newHarness(t)
	ws := h.s.NewWatchStream()
	defer ws.Close()
	a := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a")})
	b := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("b")})
	h.put("a", "1") // 2
	h.put("b", "1") // 3
	if err := ws.Cancel(a); err != nil {
		t.Fatal(err)
	}
	expect(t, ws,
		created(1, b),
		events(3, b, putEv(kv("b", "1", 3, 3, 1, 0))),
		&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 3}, WatchId: a, Canceled: true},
	)
	h.put("a", "2")
	none(t, ws)
	if err := ws.Cancel(a); !errors.Is(err, ErrWatcherNotExist) {
		t.Errorf("Cancel twice = %v, want %v", err, ErrWatcherNotExist)
	}
}

func TestWatchProgress(t *testing.T) {
	h := newHarnessConfig(t, Config{WatchQueueEvents: 3})
	h.put("a", "1") // 2
	ws := h.s.NewWatchStream()
	defer ws.Close()
	synced := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("z"), ProgressNotify: true})
	behind := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 2})
	if !ws.RequestProgress(synced) {
		t.Error("RequestProgress(synced watcher) = false, want true")
	}
	if ws.RequestProgress(behind) {
		t.Error("RequestProgress(unsynced watcher) = true, want false")
	}
	ws.RequestProgressAll() // deferred: one watcher is behind
	expect(t, ws,
		created(2, synced), created(2, behind),
		&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 2}, WatchId: synced},
		events(2, behind, putEv(kv("a", "1", 2, 2, 1, 0))),
		// Now every watcher is synced: the stream's progress goes out.
		&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 2}, WatchId: InvalidWatchID},
	)
	none(t, ws)

	// ProgressTick: only progress_notify watchers that got no events.
	ws.ProgressTick()
	expect(t, ws, &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 2}, WatchId: synced})
	h.put("z", "1") // 3
	expect(t, ws, events(3, synced, putEv(kv("z", "1", 3, 3, 1, 0))))
	ws.ProgressTick() // events were handed out since the last tick
	none(t, ws)
	ws.ProgressTick()
	expect(t, ws, &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 3}, WatchId: synced})
}

func TestWatchSlowConsumerCatchesUpInOrder(t *testing.T) {
	h := newHarnessConfig(t, Config{WatchQueueEvents: 4, WatchBatchEvents: 3, WatchScanRecords: 5})
	ws := h.s.NewWatchStream()
	defer ws.Close()
	id := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("k"), RangeEnd: []byte("l"), PrevKv: true})
	single := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("k1")})
	var want []*mvccpb.Event
	var wantSingle []*mvccpb.Event
	for i := range 30 {
		key := []byte{'k', '0' + byte(i%3)}
		h.put("other", "x") // never matches
		resp := h.must(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: []byte{byte(i)}, PrevKv: true}}).(*pb.PutResponse)
		got := h.get(string(key))
		want = append(want, withPrev(putEv(got), resp.PrevKv))
		if string(key) == "k1" {
			wantSingle = append(wantSingle, putEv(got))
		}
	}
	if ws.queuedUnits > 2*4 {
		t.Errorf("queued units = %d, want the queue bounded near 4", ws.queuedUnits)
	}
	var got, gotSingle []*mvccpb.Event
	for len(got) < len(want) || len(gotSingle) < len(wantSingle) {
		resp := next(t, ws)
		switch {
		case resp.Created:
		case resp.WatchId == id:
			got = append(got, resp.Events...)
		case resp.WatchId == single:
			gotSingle = append(gotSingle, resp.Events...)
		default:
			t.Fatalf("unexpected response %v", resp)
		}
		if len(resp.Events) > 4 {
			t.Errorf("response with %d events, want at most a batch", len(resp.Events))
		}
	}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("range watcher's events (-want +got):\n%s", diff)
	}
	if diff := protoDiff(wantSingle, gotSingle); diff != "" {
		t.Errorf("single-key watcher's events (-want +got):\n%s", diff)
	}
	none(t, ws)
	h.put("k0", "live")
	if resp := next(t, ws); len(resp.Events) != 1 || resp.Header.Revision != h.s.Revision() {
		t.Errorf("live event after catching up = %v, want one event at revision %d", resp, h.s.Revision())
	}
}

func TestWatchSlowConsumerCompactedAway(t *testing.T) {
	h := newHarnessConfig(t, Config{WatchQueueEvents: 1})
	ws := h.s.NewWatchStream()
	defer ws.Close()
	id := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a")})
	// The created response fills the queue: the watcher falls behind at
	// revision 2, and compaction then removes what it needs.
	h.put("a", "1") // 2
	h.put("a", "2") // 3
	h.put("a", "3") // 4
	if err := h.compact(4); err != nil {
		t.Fatal(err)
	}
	expect(t, ws,
		created(1, id),
		&pb.WatchResponse{Header: &pb.ResponseHeader{}, WatchId: id, CompactRevision: 4, Canceled: true},
	)
	h.put("a", "4")
	none(t, ws)
}

func TestWatchStreamFullAndClose(t *testing.T) {
	h := newHarnessConfig(t, Config{WatchQueueEvents: 2})
	ws := h.s.NewWatchStream()
	for i := range 4 {
		watch(t, ws, &pb.WatchCreateRequest{Key: []byte{'a' + byte(i)}})
	}
	if _, err := ws.Watch(&pb.WatchCreateRequest{Key: []byte("x")}); !errors.Is(err, ErrWatchStreamFull) {
		t.Errorf("Watch on a stream nobody reads = %v, want %v", err, ErrWatchStreamFull)
	}
	if err := ws.Cancel(0); !errors.Is(err, ErrWatchStreamFull) {
		t.Errorf("Cancel on a stream nobody reads = %v, want %v", err, ErrWatchStreamFull)
	}
	ws.Close()
	if _, err := ws.Next(context.Background()); !errors.Is(err, ErrWatchStreamClosed) {
		t.Errorf("Next after Close = %v, want %v", err, ErrWatchStreamClosed)
	}
	if _, err := ws.Watch(&pb.WatchCreateRequest{Key: []byte("x")}); !errors.Is(err, ErrWatchStreamClosed) {
		t.Errorf("Watch after Close = %v, want %v", err, ErrWatchStreamClosed)
	}
	h.put("a", "1") // no watchers left: must not panic or queue
	if n := len(h.s.hub.all); n != 0 {
		t.Errorf("watchers after Close = %d, want 0", n)
	}
}

func TestWatchMaxWatchersPerStream(t *testing.T) {
	h := newHarnessConfig(t, Config{MaxWatchersPerStream: 2})
	ws := h.s.NewWatchStream()
	defer ws.Close()
	watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a")})
	watch(t, ws, &pb.WatchCreateRequest{Key: []byte("b")})
	if _, err := ws.Watch(&pb.WatchCreateRequest{Key: []byte("c")}); !errors.Is(err, ErrTooManyWatchers) {
		t.Errorf("third Watch = %v, want %v", err, ErrTooManyWatchers)
	}
}

func TestWatchNextHonoursContext(t *testing.T) {
	h := newHarness(t)
	ws := h.s.NewWatchStream()
	defer ws.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ws.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next(canceled ctx) = %v, want %v", err, context.Canceled)
	}
}
