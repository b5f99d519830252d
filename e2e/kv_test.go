package e2e

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestKV runs the KV tests on one three-member cluster: each subtest uses
// its own key prefix, and none kills a member.
func TestKV(t *testing.T) {
	c := newCluster(t, 3)
	t.Run("Revisions", func(t *testing.T) { testRevisions(t, c) })
	t.Run("RangeOptions", func(t *testing.T) { testRangeOptions(t, c) })
	t.Run("Txn", func(t *testing.T) { testTxn(t, c) })
	t.Run("WritesThroughFollower", func(t *testing.T) { testWritesThroughFollower(t, c) })
}

// testRevisions: every write advances the revision by one, on every member;
// create and mod revisions and versions follow etcd's rules; old revisions
// stay readable until compacted.
func testRevisions(t *testing.T, c *cluster) {
	ctx := ctxTimeout(t, time.Minute)
	cli := c.client()
	put := func(k, v string) int64 {
		t.Helper()
		r, err := cli.Put(ctx, k, v)
		if err != nil {
			t.Fatalf("Put(%s) = %v", k, err)
		}
		return r.Header.Revision
	}
	r1 := put("rev/a", "1")
	r2 := put("rev/a", "2")
	r3 := put("rev/b", "1")
	del, err := cli.Delete(ctx, "rev/a")
	if err != nil {
		t.Fatal(err)
	}
	r4 := del.Header.Revision
	nop, err := cli.Delete(ctx, "rev/absent")
	if err != nil {
		t.Fatal(err)
	}
	r5 := put("rev/a", "3")
	if got, want := []int64{r2, r3, r4, nop.Header.Revision, r5}, []int64{r1 + 1, r1 + 2, r1 + 3, r1 + 3, r1 + 4}; !slices.Equal(got, want) {
		t.Errorf("revisions after put, put, put, delete, delete of nothing, put = %v, want %v", got, want)
	}
	if del.Deleted != 1 || nop.Deleted != 0 {
		t.Errorf("Deleted = %d, %d, want 1, 0", del.Deleted, nop.Deleted)
	}

	// Every member answers the same, linearizably and (once caught up)
	// serializably.
	for _, m := range c.running() {
		mc := c.client(m)
		g, err := mc.Get(ctx, "rev/a")
		if err != nil {
			t.Fatalf("%s: Get = %v", m.name, err)
		}
		want := &mvccpb.KeyValue{Key: []byte("rev/a"), Value: []byte("3"), CreateRevision: r5, ModRevision: r5, Version: 1}
		if len(g.Kvs) != 1 || !kvEqual(g.Kvs[0], want) || g.Header.Revision < r5 {
			t.Errorf("%s: Get(rev/a) = %v at revision %d, want %v at >= %d", m.name, g.Kvs, g.Header.Revision, want, r5)
		}
		if g.Header.MemberId != c.memberID(m) {
			t.Errorf("%s: header member ID %x, want %x", m.name, g.Header.MemberId, c.memberID(m))
		}
		waitFor(t, m.name+" serializable read at "+fmt.Sprint(r5), func() error {
			g, err := mc.Get(ctx, "rev/a", clientv3.WithSerializable())
			if err != nil {
				return err
			}
			if g.Header.Revision < r5 {
				return fmt.Errorf("serializable Get at revision %d", g.Header.Revision)
			}
			return nil
		})
	}

	// History: the value at each revision.
	at := []struct {
		rev  int64
		want []string // values of rev/a
	}{{r1 - 1, nil}, {r1, []string{"1"}}, {r2, []string{"2"}}, {r3, []string{"2"}}, {r4, nil}, {r5, []string{"3"}}}
	for _, tt := range at {
		g, err := cli.Get(ctx, "rev/a", clientv3.WithRev(tt.rev))
		if err != nil {
			t.Fatalf("Get(rev/a, rev %d) = %v", tt.rev, err)
		}
		if got := values(g.Kvs); !slices.Equal(got, tt.want) {
			t.Errorf("Get(rev/a, rev %d) = %q, want %q", tt.rev, got, tt.want)
		}
	}
	g, err := cli.Get(ctx, "rev/a", clientv3.WithRev(r2))
	if err != nil {
		t.Fatal(err)
	}
	if kv := g.Kvs[0]; kv.CreateRevision != r1 || kv.ModRevision != r2 || kv.Version != 2 {
		t.Errorf("rev/a at %d: create %d mod %d version %d, want %d %d 2", r2, kv.CreateRevision, kv.ModRevision, kv.Version, r1, r2)
	}
	if _, err := cli.Get(ctx, "rev/a", clientv3.WithRev(r5+1000)); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("Get at a future revision = %v, want %v", err, rpctypes.ErrFutureRev)
	}

	// Compaction: older revisions are gone, the compacted one stays.
	if _, err := cli.Compact(ctx, r3); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx, "rev/a", clientv3.WithRev(r2)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("Get below the compacted revision = %v, want %v", err, rpctypes.ErrCompacted)
	}
	if g, err := cli.Get(ctx, "rev/b", clientv3.WithRev(r3)); err != nil || len(g.Kvs) != 1 {
		t.Errorf("Get at the compacted revision = %v, %v, want rev/b", g, err)
	}
	if _, err := cli.Compact(ctx, r2); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Errorf("Compact below the compacted revision = %v, want %v", err, rpctypes.ErrCompacted)
	}
	if _, err := cli.Compact(ctx, r5+1000); !errors.Is(err, rpctypes.ErrFutureRev) {
		t.Errorf("Compact at a future revision = %v, want %v", err, rpctypes.ErrFutureRev)
	}
}

func kvEqual(a, b *mvccpb.KeyValue) bool {
	return string(a.Key) == string(b.Key) && string(a.Value) == string(b.Value) &&
		a.CreateRevision == b.CreateRevision && a.ModRevision == b.ModRevision && a.Version == b.Version && a.Lease == b.Lease
}

func keys(kvs []*mvccpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func values(kvs []*mvccpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Value))
	}
	return out
}

// testRangeOptions checks every Range option against a fixed data set.
func testRangeOptions(t *testing.T, c *cluster) {
	ctx := ctxTimeout(t, time.Minute)
	cli := c.client()
	// Keys written in this order; rg/b is written twice (version 2), rg/d
	// is written and deleted.
	writes := []struct{ k, v string }{
		{"rg/c", "3"}, {"rg/a", "9"}, {"rg/b", "1"}, {"rg/d", "x"}, {"rg/e", "5"}, {"rg/b", "2"}, {"rg0", "z"},
	}
	var first int64
	for i, w := range writes {
		r, err := cli.Put(ctx, w.k, w.v)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = r.Header.Revision
		}
		if r.Header.Revision != first+int64(i) {
			t.Fatalf("Put(%s) at revision %d, want %d (nothing else writes)", w.k, r.Header.Revision, first+int64(i))
		}
	}
	d, err := cli.Delete(ctx, "rg/d")
	if err != nil {
		t.Fatal(err)
	}
	last := d.Header.Revision
	// Revisions: rg/c first, rg/a first+1, rg/b first+2 (created) and
	// first+5 (modified), rg/d first+3, rg/e first+4, rg0 first+6.

	type want struct {
		keys  []string
		vals  []string // nil: not checked
		count int64
		more  bool
	}
	tests := []struct {
		name string
		key  string
		opts []clientv3.OpOption
		want want
	}{
		{"single key", "rg/a", nil, want{keys: []string{"rg/a"}, vals: []string{"9"}, count: 1}},
		{"absent key", "rg/zz", nil, want{}},
		{"deleted key", "rg/d", nil, want{}},
		{"prefix", "rg/", []clientv3.OpOption{clientv3.WithPrefix()}, want{keys: []string{"rg/a", "rg/b", "rg/c", "rg/e"}, vals: []string{"9", "2", "3", "5"}, count: 4}},
		{"range [rg/b, rg/e)", "rg/b", []clientv3.OpOption{clientv3.WithRange("rg/e")}, want{keys: []string{"rg/b", "rg/c"}, count: 2}},
		// The subtests before this one write only keys below "rg".
		{"from key", "rg/c", []clientv3.OpOption{clientv3.WithFromKey()}, want{keys: []string{"rg/c", "rg/e", "rg0"}, count: 3}},
		{"whole keyspace: from key \\x00", "\x00", []clientv3.OpOption{clientv3.WithFromKey()}, want{count: -1}},
		{"limit", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(2)}, want{keys: []string{"rg/a", "rg/b"}, count: 4, more: true}},
		{"limit equal to count", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(4)}, want{keys: []string{"rg/a", "rg/b", "rg/c", "rg/e"}, count: 4}},
		{"count only", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}, want{count: 4}},
		{"keys only", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}, want{keys: []string{"rg/a", "rg/b", "rg/c", "rg/e"}, vals: []string{"", "", "", ""}, count: 4}},
		{"serializable", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSerializable()}, want{keys: []string{"rg/a", "rg/b", "rg/c", "rg/e"}, count: 4}},
		{"at a revision", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(first + 3)}, want{keys: []string{"rg/a", "rg/b", "rg/c", "rg/d"}, vals: []string{"9", "1", "3", "x"}, count: 4}},
		{"sort by key descending", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend)}, want{keys: []string{"rg/e", "rg/c", "rg/b", "rg/a"}, count: 4}},
		{"sort by value", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortAscend)}, want{keys: []string{"rg/b", "rg/c", "rg/e", "rg/a"}, count: 4}},
		{"sort by value descending, limit", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortDescend), clientv3.WithLimit(1)}, want{keys: []string{"rg/a"}, count: 4, more: true}},
		{"sort by create revision", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)}, want{keys: []string{"rg/c", "rg/a", "rg/b", "rg/e"}, count: 4}},
		{"sort by mod revision descending", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend)}, want{keys: []string{"rg/b", "rg/e", "rg/a", "rg/c"}, count: 4}},
		{"sort by version descending", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByVersion, clientv3.SortDescend), clientv3.WithLimit(1)}, want{keys: []string{"rg/b"}, count: 4, more: true}},
		{"first create (etcd's WithFirstCreate)", "rg/", clientv3.WithFirstCreate(), want{keys: []string{"rg/c"}, count: 4, more: true}},
		{"last key (WithLastKey)", "rg/", clientv3.WithLastKey(), want{keys: []string{"rg/e"}, count: 4, more: true}},
		{"min mod revision", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMinModRev(first + 4)}, want{keys: []string{"rg/b", "rg/e"}, count: 4}},
		{"max mod revision", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxModRev(first + 1)}, want{keys: []string{"rg/a", "rg/c"}, count: 4}},
		{"min create revision", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMinCreateRev(first + 2)}, want{keys: []string{"rg/b", "rg/e"}, count: 4}},
		{"max create revision", "rg/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxCreateRev(first + 1)}, want{keys: []string{"rg/a", "rg/c"}, count: 4}},
	}
	for _, tt := range tests {
		g, err := cli.Get(ctx, tt.key, tt.opts...)
		if err != nil {
			t.Errorf("%s: Get(%q) = %v", tt.name, tt.key, err)
			continue
		}
		if tt.want.count == -1 { // the whole keyspace: just check it holds our keys
			if !slices.Contains(keys(g.Kvs), "rg/a") || g.Count < 5 {
				t.Errorf("%s: Get(%q) = %d keys (count %d), want rg/... among them", tt.name, tt.key, len(g.Kvs), g.Count)
			}
			continue
		}
		got := want{keys: keys(g.Kvs), count: g.Count, more: g.More}
		if tt.want.vals != nil {
			got.vals = values(g.Kvs)
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
			t.Errorf("%s: Get(%q) mismatch (-want +got):\n%s", tt.name, tt.key, diff)
		}
		if g.Header.Revision < last {
			t.Errorf("%s: header revision %d, want >= %d (the current revision, also for reads at an old one)", tt.name, g.Header.Revision, last)
		}
	}
}

// testTxn checks compares, both branches, nested transactions and the
// rules etcd enforces on a transaction.
func testTxn(t *testing.T, c *cluster) {
	ctx := ctxTimeout(t, time.Minute)
	cli := c.client()
	p, err := cli.Put(ctx, "tx/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	base := p.Header.Revision

	// A successful compare: both puts and the get in one revision.
	r, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value("tx/a"), "=", "1"), clientv3.Compare(clientv3.Version("tx/absent"), "=", 0)).
		Then(clientv3.OpPut("tx/a", "2"), clientv3.OpPut("tx/b", "1"), clientv3.OpGet("tx/a")).
		Else(clientv3.OpPut("tx/else", "1")).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Succeeded || r.Header.Revision != base+1 || len(r.Responses) != 3 {
		t.Fatalf("Txn = succeeded %v revision %d responses %d, want true %d 3", r.Succeeded, r.Header.Revision, len(r.Responses), base+1)
	}
	if got := values(r.Responses[2].GetResponseRange().Kvs); !slices.Equal(got, []string{"2"}) {
		t.Errorf("Txn's get after its put = %q, want [2] (a txn reads its own writes)", got)
	}

	// A failing compare runs the else branch.
	r, err = cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision("tx/a"), "<", base)).
		Then(clientv3.OpPut("tx/then", "1")).
		Else(clientv3.OpPut("tx/else", "1"), clientv3.OpDelete("tx/b")).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	if r.Succeeded || r.Header.Revision != base+2 || r.Responses[1].GetResponseDeleteRange().Deleted != 1 {
		t.Errorf("Txn(else) = succeeded %v revision %d, want false %d and one deleted", r.Succeeded, r.Header.Revision, base+2)
	}

	// A read-only transaction does not advance the revision.
	r, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision("tx/a"), "=", base)).
		Then(clientv3.OpGet("tx/", clientv3.WithPrefix())).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !r.Succeeded || r.Header.Revision != base+2 || !slices.Equal(keys(r.Responses[0].GetResponseRange().Kvs), []string{"tx/a", "tx/else"}) {
		t.Errorf("read-only Txn = succeeded %v revision %d %v, want true %d [tx/a tx/else]",
			r.Succeeded, r.Header.Revision, r.Responses, base+2)
	}

	// Compares over a range: every key must match.
	for _, tt := range []struct {
		cmp  clientv3.Cmp
		want bool
	}{
		{clientv3.Compare(clientv3.Version("tx/").WithPrefix(), ">", 0), true},
		{clientv3.Compare(clientv3.Value("tx/").WithPrefix(), "=", "1"), false},
		{clientv3.Compare(clientv3.Value("tx/").WithPrefix(), "!=", "3"), true},
		{clientv3.Compare(clientv3.LeaseValue("tx/a"), "=", clientv3.NoLease), true},
	} {
		r, err := cli.Txn(ctx).If(tt.cmp).Commit()
		if err != nil {
			t.Fatal(err)
		}
		if r.Succeeded != tt.want {
			t.Errorf("Txn(If(%v)).Succeeded = %v, want %v", tt.cmp, r.Succeeded, tt.want)
		}
	}

	// A nested transaction.
	r, err = cli.Txn(ctx).Then(
		clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.Value("tx/a"), "=", "2")},
			[]clientv3.Op{clientv3.OpPut("tx/nested", "yes")}, []clientv3.Op{clientv3.OpPut("tx/nested", "no")}),
	).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if g, err := cli.Get(ctx, "tx/nested"); err != nil || !slices.Equal(values(g.Kvs), []string{"yes"}) || !r.Responses[0].GetResponseTxn().Succeeded {
		t.Errorf("nested Txn: tx/nested = %v, %v, want yes", g, err)
	}

	// etcd's rules: no key written twice, at most --max-txn-ops ops.
	_, err = cli.Txn(ctx).Then(clientv3.OpPut("tx/dup", "1"), clientv3.OpPut("tx/dup", "2")).Commit()
	if !errors.Is(err, rpctypes.ErrDuplicateKey) {
		t.Errorf("Txn putting one key twice = %v, want %v", err, rpctypes.ErrDuplicateKey)
	}
	ops := make([]clientv3.Op, 129)
	for i := range ops {
		ops[i] = clientv3.OpPut(fmt.Sprintf("tx/many/%d", i), "v")
	}
	if _, err := cli.Txn(ctx).Then(ops...).Commit(); !errors.Is(err, rpctypes.ErrTooManyOps) {
		t.Errorf("Txn with 129 ops = %v, want %v", err, rpctypes.ErrTooManyOps)
	}
	g, err := cli.Get(ctx, "tx/dup")
	if err != nil || len(g.Kvs) != 0 {
		t.Errorf("tx/dup after refused txns = %v, %v, want absent", g, err)
	}
}

// testWritesThroughFollower: every write kind sent to a follower alone is
// applied by the cluster and answered by that follower.
func testWritesThroughFollower(t *testing.T, c *cluster) {
	ctx := ctxTimeout(t, time.Minute)
	lead := c.leader()
	f := c.followers(lead)[0]
	fc := c.client(f)
	lc := c.client(lead)

	p, err := fc.Put(ctx, "fw/a", "1")
	if err != nil {
		t.Fatalf("Put through follower %s: %v", f.name, err)
	}
	if p.Header.MemberId != c.memberID(f) {
		t.Errorf("Put's header member ID %x, want the follower's %x", p.Header.MemberId, c.memberID(f))
	}
	if _, err := fc.Txn(ctx).If(clientv3.Compare(clientv3.Value("fw/a"), "=", "1")).Then(clientv3.OpPut("fw/b", "2")).Commit(); err != nil {
		t.Fatalf("Txn through follower: %v", err)
	}
	if _, err := fc.Delete(ctx, "fw/a"); err != nil {
		t.Fatalf("Delete through follower: %v", err)
	}
	lease, err := fc.Grant(ctx, 30)
	if err != nil {
		t.Fatalf("Grant through follower: %v", err)
	}
	last, err := fc.Put(ctx, "fw/leased", "v", clientv3.WithLease(lease.ID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fc.KeepAliveOnce(ctx, lease.ID); err != nil {
		t.Errorf("KeepAliveOnce through follower: %v", err)
	}
	ttl, err := fc.TimeToLive(ctx, lease.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.TTL <= 0 || len(ttl.Keys) != 1 {
		t.Errorf("TimeToLive through follower = %v, %v, want a live lease with one key", ttl, err)
	}

	g, err := lc.Get(ctx, "fw/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(g.Kvs); !slices.Equal(got, []string{"fw/b", "fw/leased"}) || g.Header.Revision < last.Header.Revision {
		t.Errorf("leader's Get(fw/) = %q at %d, want [fw/b fw/leased] at >= %d", got, g.Header.Revision, last.Header.Revision)
	}
	if _, err := fc.Revoke(ctx, lease.ID); err != nil {
		t.Errorf("Revoke through follower: %v", err)
	}
	if g, err := lc.Get(ctx, "fw/leased"); err != nil || len(g.Kvs) != 0 {
		t.Errorf("fw/leased after Revoke = %v, %v, want absent", g, err)
	}
	if _, err := fc.Compact(ctx, last.Header.Revision); err != nil {
		t.Errorf("Compact through follower: %v", err)
	}
}
