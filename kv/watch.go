package kv

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Watch errors. The first three carry etcd's messages, because the server
// sends them to clients as a CancelReason.
var (
	ErrWatcherNotExist    = errors.New("mvcc: watcher does not exist")
	ErrEmptyWatcherRange  = errors.New("mvcc: watcher range is empty")
	ErrWatcherDuplicateID = errors.New("mvcc: duplicate watch ID provided on the WatchStream")
	ErrTooManyWatchers    = errors.New("kv: too many watchers on the watch stream")
	// ErrWatchStreamFull: the stream's consumer is far behind (its client
	// is not reading); the server should end the stream.
	ErrWatchStreamFull   = errors.New("kv: watch stream queue full: the client is not reading responses")
	ErrWatchStreamClosed = errors.New("kv: watch stream closed")
)

// InvalidWatchID is the watch ID of responses that belong to no watcher:
// a refused create, and progress for the whole stream.
const InvalidWatchID = -1

// hub routes each revision's changes to the watchers that want them.
type hub struct {
	mu sync.Mutex
	// The fields below are guarded by mu, as are every WatchStream's and
	// watcher's mutable fields.

	// rev is the store's revision as far as watchers know: it advances
	// under mu together with the queueing of that revision's events, so a
	// header or progress revision read under mu never runs ahead of them.
	rev int64
	// single holds the single-key watchers by key, in creation order.
	single map[string][]*watcher
	// ranged holds the other watchers in creation order. Each change is
	// matched against every one of them: O(ranged watchers) per change.
	ranged []*watcher
	// all is every watcher.
	all map[*watcher]struct{}
}

func (h *hub) init() {
	h.rev = 1
	h.single = make(map[string][]*watcher)
	h.all = make(map[*watcher]struct{})
}

// watcher is one watch on a stream.
type watcher struct {
	ws             *WatchStream
	id             int64
	kr             keyRange
	prevKV         bool
	noPut          bool
	noDelete       bool
	progressNotify bool

	// Guarded by hub.mu.

	// nextRev is the first revision whose events are neither queued nor
	// sent. A synced watcher gets each revision's events queued by Apply;
	// an unsynced one catches up from history in WatchStream.Next.
	nextRev int64
	synced  bool
	// queued counts this watcher's responses in the stream's queue; it
	// catches up only at 0, so its responses stay in revision order.
	queued int
	// sentEvents records events handed out since the last ProgressTick.
	sentEvents bool
}

func (w *watcher) filtered(r record) bool {
	return (r.tombstone() && w.noDelete) || (!r.tombstone() && w.noPut)
}

func (h *hub) add(w *watcher) {
	h.all[w] = struct{}{}
	if w.kr.single {
		h.single[string(w.kr.key)] = append(h.single[string(w.kr.key)], w)
		return
	}
	h.ranged = append(h.ranged, w)
}

func (h *hub) remove(w *watcher) {
	delete(h.all, w)
	if !w.kr.single {
		h.ranged = slices.DeleteFunc(h.ranged, func(x *watcher) bool { return x == w })
		return
	}
	k := string(w.kr.key)
	ws := slices.DeleteFunc(h.single[k], func(x *watcher) bool { return x == w })
	if len(ws) == 0 {
		delete(h.single, k)
		return
	}
	h.single[k] = ws
}

// notify queues revision rev's changes for the synced watchers that want
// them. Apply calls it with s.mu held for writing, for every new revision.
func (h *hub) notify(s *Store, rev int64, changes []change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = rev
	if len(h.all) == 0 {
		return
	}
	var order []*watcher
	batches := make(map[*watcher][]*mvccpb.Event)
	plain := make([]*mvccpb.Event, len(changes))
	withPrev := make([]*mvccpb.Event, len(changes))
	for i, c := range changes {
		visit := func(w *watcher) {
			if !w.synced || rev < w.nextRev || w.filtered(c.rec) {
				return
			}
			evs := plain
			if w.prevKV {
				evs = withPrev
			}
			if evs[i] == nil {
				evs[i] = s.event(c.key, c.rec, w.prevKV)
			}
			if _, ok := batches[w]; !ok {
				order = append(order, w)
			}
			batches[w] = append(batches[w], evs[i])
		}
		for _, w := range h.single[string(c.key)] {
			visit(w)
		}
		for _, w := range h.ranged {
			if w.kr.contains(c.key) {
				visit(w)
			}
		}
	}
	for _, w := range order {
		w.ws.queueEvents(w, rev, batches[w])
	}
}

// restored marks every watcher unsynced after a Restore: each catches up
// from the new history, or learns it was compacted away.
func (h *hub) restored(rev int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rev = rev
	for w := range h.all {
		w.ws.setSynced(w, false)
		w.ws.poke()
	}
}

// event builds the watch event for record r of key. The caller holds s.mu.
func (s *Store) event(key []byte, r record, prevKV bool) *mvccpb.Event {
	ev := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: r.keyValue(key, false)}
	if r.tombstone() {
		ev.Type = mvccpb.Event_DELETE
		ev.Kv = &mvccpb.KeyValue{Key: key, ModRevision: r.rev.main}
	}
	if prevKV && !ev.IsCreate() {
		// As etcd: the key at the revision before, if not compacted.
		if prev := r.rev.main - 1; prev >= s.compactRev {
			if h, ok := s.keys.Get(keyHistory{key: key}); ok {
				if p, ok := h.at(prev); ok {
					ev.PrevKv = p.keyValue(h.key, false)
				}
			}
		}
	}
	return ev
}

// WatchStream is one client's watch stream: its watchers share one queue
// of responses, in the order the server must send them. One goroutine
// consumes it with Next; any goroutine may create and cancel watchers.
type WatchStream struct {
	s *Store
	// signal is poked (never blocking) when Next may have something.
	signal chan struct{}

	// Guarded by s.hub.mu.
	watchers map[int64]*watcher
	nextID   int64
	queue    []queued
	// queuedUnits counts the queue's events, and 1 for each response
	// without events. Invariant: the sum of the queue's units.
	queuedUnits int
	// unsynced counts the watchers with synced false.
	unsynced        int
	closed          bool
	lastCatchUp     bool
	progressPending bool
}

// queued is one response waiting in a stream's queue.
type queued struct {
	resp  *pb.WatchResponse
	w     *watcher // nil if the response belongs to no live watcher
	units int
}

// NewWatchStream returns an empty watch stream. Close it when done.
func (s *Store) NewWatchStream() *WatchStream {
	return &WatchStream{s: s, signal: make(chan struct{}, 1), watchers: make(map[int64]*watcher)}
}

func (ws *WatchStream) poke() {
	select {
	case ws.signal <- struct{}{}:
	default:
	}
}

func (ws *WatchStream) push(w *watcher, resp *pb.WatchResponse) {
	units := max(1, len(resp.Events))
	ws.queue = append(ws.queue, queued{resp: resp, w: w, units: units})
	ws.queuedUnits += units
	if w != nil {
		w.queued++
	}
	ws.poke()
}

func (ws *WatchStream) pop() *pb.WatchResponse {
	if len(ws.queue) == 0 {
		return nil
	}
	q := ws.queue[0]
	ws.queue[0] = queued{}
	ws.queue = ws.queue[1:]
	if len(ws.queue) == 0 {
		ws.queue = nil
	}
	ws.queuedUnits -= q.units
	if q.w != nil {
		q.w.queued--
		if len(q.resp.Events) > 0 {
			q.w.sentEvents = true
		}
	}
	return q.resp
}

func (ws *WatchStream) full() bool { return ws.queuedUnits >= ws.s.cfg.WatchQueueEvents }

// queueEvents queues one revision's events for w, or, if they do not fit,
// leaves w to catch up from history.
func (ws *WatchStream) queueEvents(w *watcher, rev int64, evs []*mvccpb.Event) {
	if ws.queuedUnits > 0 && ws.queuedUnits+len(evs) > ws.s.cfg.WatchQueueEvents {
		ws.setSynced(w, false)
		w.nextRev = rev
		ws.poke()
		return
	}
	ws.push(w, &pb.WatchResponse{Header: &pb.ResponseHeader{Revision: rev}, WatchId: w.id, Events: evs})
	w.nextRev = rev + 1
}

// setSynced sets w.synced, keeping ws.unsynced. The caller holds hub.mu.
func (ws *WatchStream) setSynced(w *watcher, synced bool) {
	switch {
	case w.synced && !synced:
		ws.unsynced++
	case !w.synced && synced:
		ws.unsynced--
	}
	w.synced = synced
}

func header(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }

// Watch creates a watcher for a WatchCreateRequest, as etcd's watch server
// does: an empty key means "\x00", a range end of "\x00" means every key >=
// key, start_revision 0 means the next revision, and watch_id 0 picks the
// lowest free ID. It queues the "created" response; if the request is
// refused it queues etcd's created-and-canceled response (watch ID
// InvalidWatchID, the error as CancelReason) and returns the error too.
// Only ErrWatchStreamClosed and ErrWatchStreamFull queue nothing.
//
// Events follow in revision order, from history first if start_revision
// is not in the future; if that history is compacted the watcher gets
// etcd's compacted response (CompactRevision set, Canceled) and ends.
// Filters and prev_kv apply; progress_notify marks it for ProgressTick;
// fragment is the server's business.
func (ws *WatchStream) Watch(r *pb.WatchCreateRequest) (int64, error) {
	key, end := bytes.Clone(r.Key), bytes.Clone(r.RangeEnd)
	if len(key) == 0 {
		key = []byte{0}
	}
	w := &watcher{ws: ws, kr: newKeyRange(key, end), prevKV: r.PrevKv, progressNotify: r.ProgressNotify}
	for _, f := range r.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDelete = true
		}
	}

	h := &ws.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws.closed {
		return InvalidWatchID, ErrWatchStreamClosed
	}
	if ws.queuedUnits >= 2*ws.s.cfg.WatchQueueEvents {
		return InvalidWatchID, ErrWatchStreamFull
	}
	id, err := ws.pickID(r.WatchId, w.kr)
	if err != nil {
		ws.push(nil, &pb.WatchResponse{
			Header: header(h.rev), WatchId: InvalidWatchID,
			Created: true, Canceled: true, CancelReason: err.Error(),
		})
		return InvalidWatchID, err
	}
	w.id = id
	w.nextRev = r.StartRevision
	if w.nextRev == 0 {
		w.nextRev = h.rev + 1
	}
	w.synced = true
	ws.setSynced(w, w.nextRev > h.rev)
	ws.watchers[id] = w
	h.add(w)
	ws.push(w, &pb.WatchResponse{Header: header(h.rev), WatchId: id, Created: true})
	return id, nil
}

// pickID validates a new watcher's range and ID. The caller holds hub.mu.
func (ws *WatchStream) pickID(want int64, kr keyRange) (int64, error) {
	if !kr.single && !kr.toInf && bytes.Compare(kr.key, kr.end) >= 0 {
		return 0, ErrEmptyWatcherRange
	}
	if len(ws.watchers) >= ws.s.cfg.MaxWatchersPerStream {
		return 0, ErrTooManyWatchers
	}
	if want != 0 {
		if _, ok := ws.watchers[want]; ok {
			return 0, ErrWatcherDuplicateID
		}
		return want, nil
	}
	for ws.watchers[ws.nextID] != nil {
		ws.nextID++
	}
	ws.nextID++
	return ws.nextID - 1, nil
}

// Cancel ends watcher id: its queued responses are dropped and etcd's
// canceled response is queued.
func (ws *WatchStream) Cancel(id int64) error {
	h := &ws.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws.closed {
		return ErrWatchStreamClosed
	}
	w, ok := ws.watchers[id]
	if !ok {
		return ErrWatcherNotExist
	}
	if ws.queuedUnits >= 2*ws.s.cfg.WatchQueueEvents {
		return ErrWatchStreamFull
	}
	ws.removeWatcher(w)
	ws.push(nil, &pb.WatchResponse{Header: header(h.rev), WatchId: id, Canceled: true})
	return nil
}

// removeWatcher unregisters w and drops its queued responses. The caller
// holds hub.mu.
func (ws *WatchStream) removeWatcher(w *watcher) {
	ws.setSynced(w, true)
	delete(ws.watchers, w.id)
	ws.s.hub.remove(w)
	if w.queued == 0 {
		return
	}
	ws.queue = slices.DeleteFunc(ws.queue, func(q queued) bool {
		if q.w == w {
			ws.queuedUnits -= q.units
			return true
		}
		return false
	})
	w.queued = 0
}

// RequestProgress queues a progress response (no events, the current
// revision) for watcher id if it is synced, as etcd does; it reports
// whether it did. A watcher still catching up, or a full queue, gets none.
func (ws *WatchStream) RequestProgress(id int64) bool {
	h := &ws.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	w, ok := ws.watchers[id]
	if !ok || ws.closed {
		return false
	}
	return ws.progress(w)
}

func (ws *WatchStream) progress(w *watcher) bool {
	if !w.synced || ws.full() {
		return false
	}
	ws.push(w, &pb.WatchResponse{Header: header(ws.s.hub.rev), WatchId: w.id})
	return true
}

// RequestProgressAll answers a WatchProgressRequest: a progress response
// with watch ID InvalidWatchID once every watcher of the stream is synced,
// so that its revision follows every event queued before it. If some are
// not, it is queued when they are (etcd's deferred progress). With no
// watchers nothing is queued, as in etcd.
func (ws *WatchStream) RequestProgressAll() {
	h := &ws.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	ws.progressPending = true
	ws.progressAll()
}

// progressAll queues the pending stream progress if every watcher is
// synced. The caller holds hub.mu.
func (ws *WatchStream) progressAll() {
	if !ws.progressPending || ws.closed || ws.unsynced > 0 {
		return
	}
	ws.progressPending = false
	if len(ws.watchers) > 0 {
		ws.push(nil, &pb.WatchResponse{Header: header(ws.s.hub.rev), WatchId: InvalidWatchID})
	}
}

// ProgressTick is etcd's periodic progress notification: each watcher
// created with progress_notify that was handed no events since the last
// tick gets a progress response, if synced. The server calls it on its
// timer (etcd: every 10 minutes).
func (ws *WatchStream) ProgressTick() {
	h := &ws.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	ids := make([]int64, 0, len(ws.watchers))
	for id, w := range ws.watchers {
		if w.progressNotify {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		w := ws.watchers[id]
		if !w.sentEvents {
			ws.progress(w)
		}
		w.sentEvents = false
	}
}

// Close cancels every watcher and discards the queue; Next then returns
// ErrWatchStreamClosed.
func (ws *WatchStream) Close() {
	h := &ws.s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws.closed {
		return
	}
	ws.closed = true
	for _, w := range ws.watchers {
		h.remove(w)
	}
	ws.watchers = nil
	ws.queue, ws.queuedUnits = nil, 0
	ws.poke()
}

// Next returns the stream's next response, waiting for one until ctx is
// done. Watchers that fell behind catch up from history here, in the
// caller's goroutine. Responses are shared with the store: do not modify
// them (the server only marshals them and fills in the header).
func (ws *WatchStream) Next(ctx context.Context) (*pb.WatchResponse, error) {
	for {
		resp, err := ws.poll()
		if resp != nil || err != nil {
			return resp, err
		}
		select {
		case <-ws.signal:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
