package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchRecorder collects the events of one watch channel, in arrival
// order. Its goroutine is joined through done.
type watchRecorder struct {
	mu     sync.Mutex
	events []watchEvent
	errs   []error
	done   chan struct{}
}

type watchEvent struct {
	typ   string // "PUT" or "DELETE"
	key   string
	value string
	rev   int64 // mod revision (the deletion's revision for a DELETE)
}

func recordWatch(wch clientv3.WatchChan) *watchRecorder {
	r := &watchRecorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for resp := range wch {
			r.mu.Lock()
			if err := resp.Err(); err != nil {
				r.errs = append(r.errs, err)
			}
			for _, ev := range resp.Events {
				r.events = append(r.events, watchEvent{typ: ev.Type.String(), key: string(ev.Kv.Key), value: string(ev.Kv.Value), rev: ev.Kv.ModRevision})
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *watchRecorder) snapshot() ([]watchEvent, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]watchEvent(nil), r.events...), append([]error(nil), r.errs...)
}

// TestWatchOrderAndResumeAfterMemberRestart: watchers on every member
// (each through a client of that member alone) and one on the whole
// cluster see every write of a running load exactly once and in revision
// order, while a follower is killed (-9) and restarted (its watcher resumes
// from the next revision once it is back), and the leader is stopped with
// SIGTERM (it hands leadership over and exits 0) and restarted.
func TestWatchOrderAndResumeAfterMemberRestart(t *testing.T) {
	c := newCluster(t, 3)
	ctx := ctxTimeout(t, 2*time.Minute)
	lead := c.leader()
	f := c.followers(lead)[0]

	start, err := c.client().Put(ctx, "w/start", "0")
	if err != nil {
		t.Fatal(err)
	}
	from := start.Header.Revision + 1

	// Watchers: one per member (single-endpoint clients), one on the whole
	// cluster, one that starts in the past.
	wctx, wcancel := context.WithCancel(ctx)
	var recs []*watchRecorder
	var names []string
	for _, m := range c.members {
		recs = append(recs, recordWatch(c.client(m).Watch(wctx, "w/k", clientv3.WithPrefix(), clientv3.WithRev(from))))
		names = append(names, "watcher on "+m.name)
	}
	recs = append(recs, recordWatch(c.client().Watch(wctx, "w/k", clientv3.WithPrefix(), clientv3.WithRev(from))))
	names = append(names, "watcher on the cluster")
	defer func() {
		wcancel()
		for _, r := range recs {
			<-r.done
		}
	}()

	// The load: one writer, values numbered, through every member.
	writer := c.client()
	var (
		mu    sync.Mutex
		acked = map[int64]watchEvent{} // by revision
		wrote int
	)
	write := func(n int) {
		t.Helper()
		key := fmt.Sprintf("w/k%d", n%5)
		var r *clientv3.PutResponse
		waitFor(t, "put "+key, func() error {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			var err error
			r, err = writer.Put(pctx, key, strconv.Itoa(n))
			return err
		})
		mu.Lock()
		acked[r.Header.Revision] = watchEvent{typ: "PUT", key: key, value: strconv.Itoa(n), rev: r.Header.Revision}
		wrote++
		mu.Unlock()
	}
	n := 0
	burst := func(k int) {
		for range k {
			write(n)
			n++
		}
	}
	burst(50)
	c.kill(f)
	burst(50)
	c.start(f)
	burst(50)
	lead = c.leader()
	if err := c.terminate(lead); err != nil {
		t.Errorf("graceful stop (SIGTERM) of the leader %s: %v", lead.name, err)
	}
	burst(50)
	c.start(lead)
	burst(50)

	// A retried put may have been applied twice (the first attempt timed
	// out but committed): the watchers must show exactly the revisions in
	// the store, so take them from the store's history rather than acks,
	// up to a last put that every watcher waits for.
	var end int64
	waitFor(t, "the last put", func() error {
		r, err := writer.Put(ctx, "w/kend", "end")
		if err == nil {
			end = r.Header.Revision
		}
		return err
	})
	want := historyFrom(t, writer, from, end)
	for rev, ev := range acked {
		if got, ok := want[rev]; !ok || got != ev {
			t.Errorf("acknowledged put %+v is not in the history at revision %d (found %+v)", ev, rev, got)
		}
	}

	for i, r := range recs {
		waitFor(t, names[i]+" to catch up", func() error {
			evs, _ := r.snapshot()
			if len(evs) > 0 && evs[len(evs)-1].rev >= end {
				return nil
			}
			return fmt.Errorf("%d events so far", len(evs))
		})
		evs, errs := r.snapshot()
		if len(errs) > 0 {
			t.Errorf("%s: watch errors %v", names[i], errs)
		}
		checkWatchEvents(t, names[i], evs, want, from, end)
	}
	t.Logf("%d puts (%d revisions) watched by %d watchers across a follower restart and a leader restart", wrote, len(want), len(recs))
}

// historyFrom reads the events of w/k* in [from, end] with a watch from
// revision from on a fresh client: the store's own history.
func historyFrom(t *testing.T, cli *clientv3.Client, from, end int64) map[int64]watchEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	out := map[int64]watchEvent{}
	for resp := range cli.Watch(ctx, "w/k", clientv3.WithPrefix(), clientv3.WithRev(from)) {
		if err := resp.Err(); err != nil {
			t.Fatalf("reading the history from revision %d: %v", from, err)
		}
		for _, ev := range resp.Events {
			out[ev.Kv.ModRevision] = watchEvent{typ: ev.Type.String(), key: string(ev.Kv.Key), value: string(ev.Kv.Value), rev: ev.Kv.ModRevision}
			if ev.Kv.ModRevision >= end {
				return out
			}
		}
	}
	t.Fatalf("reading the history from revision %d: the watch ended before revision %d", from, end)
	return nil
}

// checkWatchEvents: evs is exactly the history want in [from, end], in
// revision order, no event missing or repeated.
func checkWatchEvents(t *testing.T, name string, evs []watchEvent, want map[int64]watchEvent, from, end int64) {
	t.Helper()
	var prev int64
	seen := 0
	for i, ev := range evs {
		if ev.rev <= prev {
			t.Errorf("%s: event %d at revision %d after one at %d: out of order or repeated", name, i, ev.rev, prev)
			return
		}
		prev = ev.rev
		if ev.rev > end {
			break
		}
		w, ok := want[ev.rev]
		if !ok || w != ev {
			t.Errorf("%s: event %+v, want %+v", name, ev, w)
			return
		}
		seen++
	}
	if seen != len(want) {
		t.Errorf("%s: %d events in [%d, %d], want %d (events missing)", name, seen, from, end, len(want))
	}
}
