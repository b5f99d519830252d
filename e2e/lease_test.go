package e2e

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// expirySlack is how late after its deadline a lease may still be revoked:
// the leader checks expiry every 500ms, then the revoke commits; the rest
// is for two loaded cores.
const expirySlack = 5 * time.Second

// leasedKey is a key attached to a lease, with the bounds of its life.
type leasedKey struct {
	key string
	// notBefore: a read that returns before it must see the key (the
	// lease's deadline is at least its last refresh's send time + TTL);
	// zero if unknown.
	notBefore time.Time
	// by: the key must be gone by then.
	by time.Time
	// goneAt is when a read first returned without the key.
	goneAt time.Time
}

// watchExpiry reads the keys linearizably every 50ms until each is gone,
// and fails the test if one disappears before its notBefore or is still
// there after its by. Failed reads (during an election) are retried.
func watchExpiry(t *testing.T, cli *clientv3.Client, lks ...*leasedKey) {
	t.Helper()
	for {
		pending := 0
		for _, lk := range lks {
			if !lk.goneAt.IsZero() {
				continue
			}
			pending++
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			g, err := cli.Get(ctx, lk.key)
			cancel()
			returned := time.Now()
			switch {
			case err != nil:
			case len(g.Kvs) == 1:
			case returned.Before(lk.notBefore):
				t.Fatalf("%s expired early: gone at %v, %v before the earliest time its lease may expire",
					lk.key, returned.Format(time.StampMilli), lk.notBefore.Sub(returned))
			default:
				lk.goneAt = returned
				if !lk.notBefore.IsZero() {
					t.Logf("%s gone %v after the earliest time its lease may expire", lk.key, returned.Sub(lk.notBefore).Round(time.Millisecond))
				}
				continue
			}
			if returned.After(lk.by) {
				t.Fatalf("%s still exists %v after its lease should have expired (last read: %v)", lk.key, returned.Sub(lk.by.Add(-expirySlack)), err)
			}
		}
		if pending == 0 {
			return
		}
		select {
		case <-t.Context().Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// grantWithKey grants a lease of ttl seconds and puts key on it; it returns
// the lease and the time just before the grant was sent.
func grantWithKey(t *testing.T, cli *clientv3.Client, ttl int64, key string) (clientv3.LeaseID, time.Time) {
	t.Helper()
	ctx := ctxTimeout(t, 10*time.Second)
	sent := time.Now()
	l, err := cli.Grant(ctx, ttl)
	if err != nil {
		t.Fatalf("Grant(%d) = %v", ttl, err)
	}
	if l.TTL != ttl {
		t.Fatalf("Grant(%d) granted TTL %d", ttl, l.TTL)
	}
	if _, err := cli.Put(ctx, key, "v", clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	return l.ID, sent
}

// TestLeaseExpiry: a lease expires after its TTL and not before, keeps
// living while kept alive, and does not expire early when the leader that
// tracked its deadline dies.
func TestLeaseExpiry(t *testing.T) {
	c := newCluster(t, 3)

	t.Run("AfterTTL", func(t *testing.T) {
		cli := c.client()
		const ttl = 2
		idA, sentA := grantWithKey(t, cli, ttl, "lease/a")
		a := &leasedKey{key: "lease/a", notBefore: sentA.Add(ttl * time.Second), by: time.Now().Add(ttl*time.Second + expirySlack)}

		// B is kept alive for three TTLs, then dropped.
		const ttlB = 1
		kctx, kcancel := context.WithCancel(t.Context())
		idB, _ := grantWithKey(t, cli, ttlB, "lease/b-kept")
		kch, err := cli.KeepAlive(kctx, idB)
		if err != nil {
			t.Fatal(err)
		}
		refreshes := 0
		keepUntil := time.Now().Add(3 * ttlB * time.Second)
		for time.Now().Before(keepUntil) {
			select {
			case r, ok := <-kch:
				if !ok {
					t.Fatalf("keep-alive channel closed after %d refreshes", refreshes)
				}
				if r.TTL != ttlB {
					t.Errorf("keep-alive response TTL %d, want %d", r.TTL, ttlB)
				}
				refreshes++
			case <-time.After(time.Until(keepUntil)):
			}
		}
		if g, err := cli.Get(t.Context(), "lease/b-kept"); err != nil || len(g.Kvs) != 1 {
			t.Fatalf("lease/b-kept after %d refreshes over 3 TTLs = %v, %v, want it alive", refreshes, g, err)
		}
		kcancel()
		for range kch { // drain: the channel closes once the keep-alive stops
		}
		kept := &leasedKey{key: "lease/b-kept", by: time.Now().Add(ttlB*time.Second + expirySlack)}
		watchExpiry(t, cli, a, kept)

		ttlResp, err := cli.TimeToLive(t.Context(), idA)
		if err != nil || ttlResp.TTL != -1 {
			t.Errorf("TimeToLive of an expired lease = %v, %v, want TTL -1", ttlResp, err)
		}
		ls, err := cli.Leases(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls.Leases {
			if l.ID == idA || l.ID == idB {
				t.Errorf("Leases() lists expired lease %x", l.ID)
			}
		}
	})

	t.Run("NotEarlyAcrossLeaderChange", func(t *testing.T) {
		cli := c.client()
		const ttl = 3
		id, _ := grantWithKey(t, cli, ttl, "lease/c")
		lead := c.leader()
		// Refresh through a follower (forwarded to the leader), then kill
		// the leader at once: the new leader knows nothing of the refresh.
		fc := c.client(c.followers(lead)...)
		sent := time.Now()
		if _, err := fc.KeepAliveOnce(t.Context(), id); err != nil {
			t.Fatalf("KeepAliveOnce = %v", err)
		}
		c.kill(lead)
		killed := time.Now()
		lk := &leasedKey{
			key:       "lease/c",
			notBefore: sent.Add(ttl * time.Second),
			// A new leader within a few election timeouts, which gives the
			// lease TTL + one election timeout.
			by: killed.Add(ttl*time.Second + 4*electionMs*time.Millisecond + expirySlack),
		}
		watchExpiry(t, fc, lk)
		c.start(lead)
		if g, err := cli.Get(t.Context(), "lease/c"); err != nil || len(g.Kvs) != 0 {
			t.Errorf("lease/c after its lease expired and the old leader restarted = %v, %v, want absent", g, err)
		}
	})
}
