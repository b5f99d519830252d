package kv

import (
	"fmt"
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// poll returns the next response to hand out, nil if there is none yet.
// Between queued responses it lets watchers that fell behind catch up, one
// step each time, while the queue has room.
func (ws *WatchStream) poll() (*pb.WatchResponse, error) {
	h := &ws.s.hub
	for {
		h.mu.Lock()
		if ws.closed {
			h.mu.Unlock()
			return nil, ErrWatchStreamClosed
		}
		ws.progressAll()
		if ws.candidate() == nil {
			resp := ws.pop()
			if resp != nil {
				ws.lastCatchUp = false
			}
			h.mu.Unlock()
			return resp, nil
		}
		h.mu.Unlock()
		ws.catchUp()
	}
}

// candidate returns the watcher to catch up next, nil if none should now:
// a catch-up alternates with handing out a queued response, and needs room
// in the queue. It picks the lowest ID among the unsynced watchers with
// nothing queued. The caller holds hub.mu.
func (ws *WatchStream) candidate() *watcher {
	if ws.unsynced == 0 || ws.full() || (ws.lastCatchUp && len(ws.queue) > 0) {
		return nil
	}
	var best *watcher
	for _, w := range ws.watchers {
		if !w.synced && w.queued == 0 && (best == nil || w.id < best.id) {
			best = w
		}
	}
	return best
}

// catchUp moves one unsynced watcher forward through history: it queues
// one batch of events, or etcd's compacted response if the history the
// watcher needs is gone, and marks the watcher synced when it reaches the
// current revision. It holds the store's read lock, so Apply waits for at
// most one scan of Config.WatchScanRecords records.
func (ws *WatchStream) catchUp() {
	s := ws.s
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if ws.closed {
		return
	}
	w := ws.candidate()
	if w == nil {
		return
	}
	ws.lastCatchUp = true
	if w.nextRev < s.compactRev {
		// etcd's compacted response carries revision 0 in its header.
		ws.removeWatcher(w)
		ws.push(nil, &pb.WatchResponse{
			Header: header(0), WatchId: w.id, CompactRevision: s.compactRev, Canceled: true,
		})
		return
	}
	evs, next, done := s.scanEvents(w)
	if len(evs) > 0 {
		ws.push(w, &pb.WatchResponse{Header: header(h.rev), WatchId: w.id, Events: evs})
	}
	if done {
		w.nextRev = max(w.nextRev, h.rev+1)
		ws.setSynced(w, true)
		return
	}
	w.nextRev = next
}

// scanEvents reads w's events from history, from w.nextRev on, in revision
// order. It stops at a revision boundary once it has
// Config.WatchBatchEvents events or has read Config.WatchScanRecords
// records, returning the revision to resume at; done reports that it
// reached the end of history. The caller holds s.mu.
func (s *Store) scanEvents(w *watcher) (evs []*mvccpb.Event, next int64, done bool) {
	scanned := 0
	lastMain := int64(-1)
	done = true
	// visit looks at one record; get returns it, and is only called for
	// keys in w's range.
	visit := func(key []byte, main int64, get func() record) bool {
		if main != lastMain && (len(evs) >= s.cfg.WatchBatchEvents || scanned >= s.cfg.WatchScanRecords) {
			next, done = main, false
			return false
		}
		scanned++
		lastMain = main
		if !w.kr.contains(key) {
			return true
		}
		if r := get(); !w.filtered(r) {
			evs = append(evs, s.event(key, r, w.prevKV))
		}
		return true
	}
	if w.kr.single {
		h, ok := s.keys.Get(keyHistory{key: w.kr.key})
		if !ok {
			return nil, 0, true
		}
		i := sort.Search(len(h.recs), func(i int) bool { return h.recs[i].rev.main >= w.nextRev })
		for _, r := range h.recs[i:] {
			if !visit(h.key, r.rev.main, func() record { return r }) {
				break
			}
		}
		return evs, next, done
	}
	s.revs.AscendGreaterOrEqual(revEntry{rev: revision{main: w.nextRev}}, func(e revEntry) bool {
		return visit(e.key, e.rev.main, func() record {
			h, _ := s.keys.Get(keyHistory{key: e.key})
			r, ok := h.find(e.rev)
			if !ok {
				panic(fmt.Sprintf("kv: revision index names %q at %v, which its history lacks", e.key, e.rev))
			}
			return r
		})
	})
	return evs, next, done
}
