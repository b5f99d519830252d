package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestWatch drives the Watch service of a three-member cluster.
func TestWatch(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	t.Run("OrderUnderConcurrentWrites", func(t *testing.T) { testWatchOrder(t, c) })
	t.Run("FromPastRevisionWithPrevKVAndFilter", func(t *testing.T) { testWatchPast(t, c) })
	t.Run("CompactedRevision", func(t *testing.T) { testWatchCompacted(t, c) })
	t.Run("ProgressAndCancel", func(t *testing.T) { testWatchProgressCancel(t, c) })
	t.Run("Fragment", func(t *testing.T) { testWatchFragment(t, c) })
}

// collect reads events from wch until n arrived.
func collect(t *testing.T, wch clientv3.WatchChan, n int) []*clientv3.Event {
	t.Helper()
	var evs []*clientv3.Event
	timeout := time.After(testWait)
	for len(evs) < n {
		select {
		case wr, ok := <-wch:
			if !ok {
				t.Fatalf("watch channel closed after %d of %d events", len(evs), n)
			}
			if err := wr.Err(); err != nil {
				t.Fatalf("watch error after %d events: %v", len(evs), err)
			}
			evs = append(evs, wr.Events...)
		case <-timeout:
			t.Fatalf("timed out with %d of %d events", len(evs), n)
		}
	}
	return evs
}

func testWatchOrder(t *testing.T, c *testCluster) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	// One watcher per member: every member feeds its own watchers.
	var chans []clientv3.WatchChan
	for _, i := range c.running() {
		wch := c.client(t, i).Watch(ctx, "order/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		<-wch // created
		chans = append(chans, wch)
	}
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		cli := c.client(t, c.running()[w%len(c.running())])
		wg.Go(func() {
			for i := range each {
				if _, err := cli.Put(ctx, fmt.Sprintf("order/%d/%d", w, i), "v"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var first []int64
	for m, wch := range chans {
		evs := collect(t, wch, writers*each)
		var revs []int64
		for i, ev := range evs {
			revs = append(revs, ev.Kv.ModRevision)
			if i > 0 && ev.Kv.ModRevision <= evs[i-1].Kv.ModRevision {
				t.Fatalf("member %d: event %d at revision %d after %d", m, i, ev.Kv.ModRevision, evs[i-1].Kv.ModRevision)
			}
		}
		if first == nil {
			first = revs
		} else if fmt.Sprint(first) != fmt.Sprint(revs) {
			t.Errorf("member %d saw revisions %v, member 0 saw %v", m, revs, first)
		}
	}
}

func testWatchPast(t *testing.T, c *testCluster) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	cli := c.client(t)
	var start int64
	for i := range 3 {
		r, err := cli.Put(ctx, "past/k", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if start == 0 {
			start = r.Header.Revision
		}
	}
	if _, err := cli.Delete(ctx, "past/k"); err != nil {
		t.Fatal(err)
	}
	wcli := c.client(t, c.follower(t))
	evs := collect(t, wcli.Watch(ctx, "past/k", clientv3.WithRev(start), clientv3.WithPrevKV()), 4)
	var got []string
	for _, ev := range evs {
		s := fmt.Sprintf("%v %s@%d", ev.Type, ev.Kv.Value, ev.Kv.ModRevision-start)
		if ev.PrevKv != nil {
			s += " prev " + string(ev.PrevKv.Value)
		}
		got = append(got, s)
	}
	want := []string{"PUT 0@0", "PUT 1@1 prev 0", "PUT 2@2 prev 1", "DELETE @3 prev 2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("watch from revision %d = %q, want %q", start, got, want)
	}
	// The same history with puts filtered out.
	evs = collect(t, wcli.Watch(ctx, "past/k", clientv3.WithRev(start), clientv3.WithFilterPut()), 1)
	if evs[0].Type != mvccpb.DELETE {
		t.Errorf("watch without puts: first event %v, want the delete", evs[0])
	}
}

func testWatchCompacted(t *testing.T, c *testCluster) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	// One member for everything: a Compact returns once the member it was
	// sent to applied it, so the watch then finds it compacted. (Another
	// member may not have applied it yet, and would serve the history.)
	cli := c.client(t, c.running()[0])
	r1, _ := cli.Put(ctx, "cmp/k", "1")
	r2, err := cli.Put(ctx, "cmp/k", "2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, r2.Header.Revision); err != nil {
		t.Fatal(err)
	}
	select {
	case wr := <-cli.Watch(ctx, "cmp/k", clientv3.WithRev(r1.Header.Revision)):
		if wr.CompactRevision != r2.Header.Revision || !wr.Canceled {
			t.Errorf("watch from a compacted revision = %+v, want canceled with compact revision %d", wr, r2.Header.Revision)
		}
		if err := wr.Err(); err == nil || err.Error() != "etcdserver: mvcc: required revision has been compacted" {
			t.Errorf("watch from a compacted revision: Err() = %v", err)
		}
	case <-time.After(testWait):
		t.Fatal("no answer to a watch from a compacted revision")
	}
}

func testWatchProgressCancel(t *testing.T, c *testCluster) {
	ctx, cancel := context.WithCancel(ctxT(t))
	cli := c.client(t, c.follower(t))
	wch := cli.Watch(ctx, "prog/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	<-wch
	r, err := c.client(t).Put(ctx, "other", "v")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a progress notification at the latest revision", func() bool {
		if err := cli.RequestProgress(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case wr := <-wch:
			return wr.IsProgressNotify() && wr.Header.Revision >= r.Header.Revision
		case <-time.After(time.Second):
			return false
		}
	})
	cancel()
	select {
	case _, ok := <-wch:
		for ok {
			_, ok = <-wch
		}
	case <-time.After(testWait):
		t.Fatal("the watch channel stayed open after its context was cancelled")
	}
}

// testWatchFragment watches three events whose total is above
// MaxRequestBytes with fragment set, on a raw stream, and checks they come
// in fragments.
func testWatchFragment(t *testing.T, c *testCluster) {
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	cli := c.client(t)
	val := strings.Repeat("f", 700*1024)
	var start int64
	for i := range 3 {
		r, err := cli.Put(ctx, fmt.Sprintf("frag/%d", i), val)
		if err != nil {
			t.Fatal(err)
		}
		if start == 0 {
			start = r.Header.Revision
		}
	}
	// Every event in history before the watch starts, so it gets them in
	// one catch-up response.
	last := start + 2
	waitFor(t, "m0 to apply the puts", func() bool { return c.members[0].srv.store.Revision() >= last })
	cc, err := grpc.NewClient(c.members[0].srv.ClientAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ws, err := pb.NewWatchClient(cc).Watch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Send(&pb.WatchRequest{RequestUnion: &pb.WatchRequest_CreateRequest{CreateRequest: &pb.WatchCreateRequest{
		Key: []byte("frag/"), RangeEnd: []byte("frag0"), StartRevision: start, Fragment: true}}}); err != nil {
		t.Fatal(err)
	}
	events, fragments := 0, 0
	for events < 3 {
		resp, err := ws.Recv()
		if err != nil {
			t.Fatal(err)
		}
		events += len(resp.Events)
		if resp.Fragment {
			fragments++
		}
	}
	if fragments == 0 {
		t.Errorf("3 events of 700 KiB came in no fragments")
	}
}
