package server

import (
	"context"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestLease drives the Lease service of a three-member cluster, through
// followers, where every keep-alive and TimeToLive is forwarded to the
// leader.
func TestLease(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	t.Run("GrantTTLKeepAliveRevoke", func(t *testing.T) { testLeaseBasics(t, c) })
	t.Run("ExpiryDeletesKeys", func(t *testing.T) { testLeaseExpiry(t, c) })
	t.Run("KeepAliveStreamThroughFollower", func(t *testing.T) { testLeaseKeepAliveStream(t, c) })
	t.Run("NoEarlyExpiryAcrossLeaderChange", func(t *testing.T) { testLeaseLeaderChange(t, c) })
}

func keyExists(t *testing.T, cli *clientv3.Client, key string) bool {
	t.Helper()
	r, err := cli.Get(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return len(r.Kvs) == 1
}

func testLeaseBasics(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t, c.follower(t))
	short, err := cli.Grant(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := c.members[0].srv.lessor.minTTL; short.TTL != want || short.ID == 0 {
		t.Errorf("Grant(TTL 0) = ID %x, TTL %d, want an ID and the minimum TTL %d", short.ID, short.TTL, want)
	}
	l, err := cli.Grant(ctx, 30)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "lease/a", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	ttl, err := cli.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL <= 0 || ttl.TTL > 30 || ttl.GrantedTTL != 30 || len(ttl.Keys) != 1 || string(ttl.Keys[0]) != "lease/a" {
		t.Errorf("TimeToLive = TTL %d, granted %d, keys %q, want (0, 30], 30, [lease/a]", ttl.TTL, ttl.GrantedTTL, ttl.Keys)
	}
	ka, err := cli.KeepAliveOnce(ctx, l.ID)
	if err != nil || ka.TTL != 30 {
		t.Errorf("KeepAliveOnce = %v, %v, want TTL 30", ka, err)
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(leases.Leases, func(s clientv3.LeaseStatus) bool { return s.ID == l.ID }) {
		t.Errorf("Leases = %v, want it to hold %x", leases.Leases, l.ID)
	}
	if _, err := cli.Revoke(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	if keyExists(t, cli, "lease/a") {
		t.Errorf("lease/a survived the revocation of its lease")
	}
	if ttl, err := cli.TimeToLive(ctx, l.ID); err != nil || ttl.TTL != -1 {
		t.Errorf("TimeToLive(revoked) = %v, %v, want TTL -1", ttl, err)
	}
	if _, err := cli.Revoke(ctx, l.ID); err == nil || err.Error() != "etcdserver: requested lease not found" {
		t.Errorf("Revoke(revoked) = %v, want etcd's lease not found", err)
	}
	if _, err := cli.KeepAliveOnce(ctx, l.ID); err == nil || err.Error() != "etcdserver: requested lease not found" {
		t.Errorf("KeepAliveOnce(revoked) = %v, want clientv3's lease not found", err)
	}
}

func testLeaseExpiry(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t, c.follower(t))
	start := time.Now()
	l, err := cli.Grant(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "expire/a", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	wch := cli.Watch(ctx, "expire/a")
	select {
	case wr := <-wch:
		if len(wr.Events) != 1 || wr.Events[0].Type != clientv3.EventTypeDelete {
			t.Fatalf("watch = %+v, want the key's deletion", wr)
		}
	case <-time.After(testWait):
		t.Fatal("the lease never expired")
	}
	if d := time.Since(start); d < time.Duration(l.TTL)*time.Second {
		t.Errorf("the lease of TTL %ds expired after %v", l.TTL, d)
	}
	if ttl, err := cli.TimeToLive(ctx, l.ID); err != nil || ttl.TTL != -1 {
		t.Errorf("TimeToLive(expired) = %v, %v, want TTL -1", ttl, err)
	}
}

func testLeaseKeepAliveStream(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t, c.follower(t))
	l, err := cli.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "ka/a", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	kctx, stop := context.WithCancel(ctx)
	kch, err := cli.KeepAlive(kctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	// One and a half TTLs plus the expiry check: without the renewals the
	// key would be gone.
	deadline := time.Now().Add(3500 * time.Millisecond)
	for time.Now().Before(deadline) {
		select {
		case r, ok := <-kch:
			if !ok {
				t.Fatal("the keep-alive channel closed")
			}
			if r.TTL != l.TTL {
				t.Errorf("keep-alive TTL %d, want %d", r.TTL, l.TTL)
			}
		case <-time.After(time.Until(deadline)):
		}
	}
	if !keyExists(t, cli, "ka/a") {
		t.Fatal("the key expired although its lease was kept alive")
	}
	stop()
	waitFor(t, "the lease to expire once no longer kept alive", func() bool { return !keyExists(t, cli, "ka/a") })
}

// testLeaseLeaderChange moves the leadership away while a lease lives: the
// new leader must extend it (etcd's Promote), not let it expire early, and
// then expire it itself.
func testLeaseLeaderChange(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t)
	l, err := cli.Grant(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "lc/a", "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if _, err := cli.KeepAliveOnce(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	lead := c.waitLeader(t)
	to := (lead + 1) % len(c.members)
	if err := c.members[lead].srv.node.TransferLeadership(ctx, c.members[to].srv.ID()); err != nil {
		t.Fatal(err)
	}
	renewed := time.Now()
	if got := c.waitLeader(t); got != to {
		t.Fatalf("leader m%d after the transfer, want m%d", got, to)
	}
	ttl, err := c.client(t, to).TimeToLive(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL < 2 {
		t.Errorf("TimeToLive on the new leader = %d, want at least 2 of the 3 renewed just before", ttl.TTL)
	}
	time.Sleep(time.Until(renewed.Add(2500 * time.Millisecond)))
	if !keyExists(t, cli, "lc/a") {
		t.Errorf("the key expired early across the leader change")
	}
	waitFor(t, "the new leader to expire the lease", func() bool { return !keyExists(t, cli, "lc/a") })
}
