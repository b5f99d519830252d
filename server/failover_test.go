package server

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLeaderStoppedUnderLoadLosesNoAcknowledgedWrite stops the leader at
// once (no hand-over: Stop with a cancelled context) while four clients
// write, then restarts it from its data directory, stops the next leader
// gracefully, and finally leaves one member alone: it still serves
// serializable reads and refuses linearizable ones.
func TestLeaderStoppedUnderLoadLosesNoAcknowledgedWrite(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.RequestTimeout = 2 * time.Second })
	ctx := ctxT(t)

	var mu sync.Mutex
	var acked []string
	var stopLoad atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		cli := c.client(t)
		wg.Go(func() {
			for i := 0; !stopLoad.Load(); i++ {
				key := fmt.Sprintf("load/%d/%d", w, i)
				pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := cli.Put(pctx, key, "v")
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, key)
					mu.Unlock()
				}
			}
		})
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor(t, "writes before the stop", func() bool { return count() >= 100 })
	lead := c.waitLeader(t)
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	c.members[lead].srv.Stop(stopped)
	c.members[lead].srv = nil
	before := count()
	waitFor(t, "writes after the stop", func() bool { return count() >= before+100 })
	stopLoad.Store(true)
	wg.Wait()

	cli := c.client(t)
	var last string
	for _, key := range acked {
		r, err := cli.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Kvs) != 1 {
			t.Errorf("acknowledged write %s is lost", key)
		}
		last = key
	}
	t.Logf("%d acknowledged writes, %d after the leader stopped", len(acked), len(acked)-before)

	// The stopped member restarts from its data directory and catches up.
	c.restart(t, lead)
	rcli := c.client(t, lead)
	waitFor(t, "the restarted member to catch up", func() bool {
		r, err := rcli.Get(ctx, last, clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})

	// A graceful stop of the leader hands leadership over first. (The new
	// leader may still be reconnecting to the restarted member, for up to
	// an election timeout: retry the write.)
	lead = c.waitLeader(t)
	c.stop(t, lead)
	after := c.client(t)
	waitFor(t, "a write after the leader's graceful stop", func() bool {
		_, err := after.Put(ctx, "after-graceful-stop", "v")
		return err == nil
	})

	// Both members left apply the write before one of them stops (the
	// write returned once a quorum had it, which may not yet include the
	// member that will be alone).
	for _, i := range c.running() {
		mcli := c.client(t, i)
		waitFor(t, "the write applied on every member", func() bool {
			r, err := mcli.Get(ctx, "after-graceful-stop", clientv3.WithSerializable())
			return err == nil && len(r.Kvs) == 1
		})
	}
	// One member alone: serializable reads, no linearizable ones.
	c.stop(t, c.running()[0])
	alone := c.client(t, c.running()[0])
	if r, err := alone.Get(ctx, "after-graceful-stop", clientv3.WithSerializable()); err != nil || len(r.Kvs) != 1 {
		t.Errorf("serializable Get on a member without quorum = %v, %v, want the value", r, err)
	}
	lctx, lcancel := context.WithTimeout(ctx, 3*time.Second)
	defer lcancel()
	if r, err := alone.Get(lctx, "after-graceful-stop"); err == nil {
		t.Errorf("linearizable Get on a member without quorum = %v, want an error", r)
	}
}

// TestAutoCompactionRevisionMode keeps the last 5 revisions.
func TestAutoCompactionRevisionMode(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = CompactionRevision, "5"
		cfg.RevisionCompactionInterval = 50 * time.Millisecond
	})
	ctx := ctxT(t)
	cli := c.client(t)
	var rev int64
	for i := range 20 {
		r, err := cli.Put(ctx, "ac", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		rev = r.Header.Revision
	}
	s := c.members[0].srv
	waitFor(t, "auto-compaction", func() bool { return s.store.CompactRevision() >= rev-5 })
	if _, err := cli.Get(ctx, "ac", clientv3.WithRev(rev-10)); err == nil || err.Error() != "etcdserver: mvcc: required revision has been compacted" {
		t.Errorf("Get at a revision auto-compaction dropped = %v, want compacted", err)
	}
	if _, err := cli.Get(ctx, "ac", clientv3.WithRev(rev-4)); err != nil {
		t.Errorf("Get at a revision within the retention = %v", err)
	}
}

// TestAutoCompactionPeriodicMode keeps two seconds of history: it samples
// the revision every second and compacts to the sample two seconds old.
func TestAutoCompactionPeriodicMode(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.AutoCompactionMode, cfg.AutoCompactionRetention = CompactionPeriodic, "2s"
	})
	ctx := ctxT(t)
	cli := c.client(t)
	r, err := cli.Put(ctx, "pc", "old")
	if err != nil {
		t.Fatal(err)
	}
	s := c.members[0].srv
	start := time.Now()
	waitFor(t, "periodic auto-compaction", func() bool {
		if _, err := cli.Put(ctx, "pc", "new"); err != nil {
			t.Fatal(err)
		}
		return s.store.CompactRevision() >= r.Header.Revision
	})
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("history of a 2s retention compacted after %v", d)
	}
}
