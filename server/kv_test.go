package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestKV drives the KV service of a three-member cluster with clientv3.
func TestKV(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	t.Run("PutGetRevisionsAndHeaders", func(t *testing.T) { testPutGetHeaders(t, c) })
	t.Run("RangeOptions", func(t *testing.T) { testRangeOptions(t, c) })
	t.Run("Txn", func(t *testing.T) { testTxn(t, c) })
	t.Run("WritesThroughFollower", func(t *testing.T) { testWritesThroughFollower(t, c) })
	t.Run("Errors", func(t *testing.T) { testKVErrors(t, c) })
}

func keysOf(kvs []*mvccpb.KeyValue) []string {
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

func checkHeader(t *testing.T, what string, h *pb.ResponseHeader, s *Server, rev int64) {
	t.Helper()
	if h.ClusterId != s.ClusterID() || h.MemberId != s.ID() || h.RaftTerm == 0 || h.Revision != rev {
		t.Errorf("%s header = %v, want cluster %d, member %d, revision %d and a term", what, h, s.ClusterID(), s.ID(), rev)
	}
}

func testPutGetHeaders(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	lead := c.waitLeader(t)
	cli := c.client(t, lead)
	srv := c.members[lead].srv
	base := srv.store.Revision()
	put, err := cli.Put(ctx, "hdr/a", "1")
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, "Put", put.Header, srv, base+1)
	put2, err := cli.Put(ctx, "hdr/a", "2", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if put2.PrevKv == nil || string(put2.PrevKv.Value) != "1" {
		t.Errorf("Put with prev_kv: PrevKv = %v, want value 1", put2.PrevKv)
	}
	for _, i := range c.running() {
		get, err := c.client(t, i).Get(ctx, "hdr/a")
		if err != nil {
			t.Fatal(err)
		}
		checkHeader(t, fmt.Sprintf("Get on m%d", i), get.Header, c.members[i].srv, base+2)
		want := &mvccpb.KeyValue{Key: []byte("hdr/a"), Value: []byte("2"), CreateRevision: base + 1, ModRevision: base + 2, Version: 2}
		if len(get.Kvs) != 1 || !cmp.Equal(get.Kvs[0], want, cmpProto) {
			t.Errorf("Get on m%d = %v, want %v", i, get.Kvs, want)
		}
	}
	del, err := cli.Delete(ctx, "hdr/a", clientv3.WithPrevKV())
	if err != nil {
		t.Fatal(err)
	}
	if del.Deleted != 1 || len(del.PrevKvs) != 1 {
		t.Errorf("Delete = %d deleted, prev %v, want 1 and the old value", del.Deleted, del.PrevKvs)
	}
	checkHeader(t, "Delete", del.Header, srv, base+3)
}

func testRangeOptions(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t)
	var revs []int64
	for _, kv := range []struct{ k, v string }{{"r/b", "2"}, {"r/a", "3"}, {"r/c", "1"}, {"r/a", "4"}, {"rz", "x"}} {
		resp, err := cli.Put(ctx, kv.k, kv.v)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, resp.Header.Revision)
	}
	tests := []struct {
		name  string
		key   string
		opts  []clientv3.OpOption
		keys  []string
		count int64
		more  bool
	}{
		{"single key", "r/a", nil, []string{"r/a"}, 1, false},
		{"prefix", "r/", []clientv3.OpOption{clientv3.WithPrefix()}, []string{"r/a", "r/b", "r/c"}, 3, false},
		{"range end", "r/a", []clientv3.OpOption{clientv3.WithRange("r/c")}, []string{"r/a", "r/b"}, 2, false},
		{"from key", "r/c", []clientv3.OpOption{clientv3.WithFromKey()}, []string{"r/c", "rz"}, 2, false},
		{"limit", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithLimit(2)}, []string{"r/a", "r/b"}, 3, true},
		{"count only", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}, nil, 3, false},
		{"keys only", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithKeysOnly()}, []string{"r/a", "r/b", "r/c"}, 3, false},
		{"sort by value descending", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByValue, clientv3.SortDescend)},
			[]string{"r/a", "r/b", "r/c"}, 3, false},
		{"sort by create revision", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend)},
			[]string{"r/b", "r/a", "r/c"}, 3, false},
		{"sort by mod revision descending", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend)},
			[]string{"r/a", "r/c", "r/b"}, 3, false},
		{"sort by version descending", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByVersion, clientv3.SortDescend)},
			[]string{"r/a", "r/b", "r/c"}, 3, false},
		{"at an older revision", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(revs[1])}, []string{"r/a", "r/b"}, 2, false},
		{"min mod revision", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMinModRev(revs[2])}, []string{"r/a", "r/c"}, 3, false},
		{"max create revision", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithMaxCreateRev(revs[1])}, []string{"r/a", "r/b"}, 3, false},
		{"serializable", "r/", []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSerializable()}, []string{"r/a", "r/b", "r/c"}, 3, false},
	}
	for _, tt := range tests {
		resp, err := cli.Get(ctx, tt.key, tt.opts...)
		if err != nil {
			t.Errorf("%s: Get = %v", tt.name, err)
			continue
		}
		if got := keysOf(resp.Kvs); !cmp.Equal(got, tt.keys) || resp.Count != tt.count || resp.More != tt.more {
			t.Errorf("%s: Get = %v, count %d, more %t, want %v, %d, %t", tt.name, got, resp.Count, resp.More, tt.keys, tt.count, tt.more)
		}
		if tt.name == "keys only" && len(resp.Kvs) > 0 && len(resp.Kvs[0].Value) != 0 {
			t.Errorf("keys only: Get returned value %q", resp.Kvs[0].Value)
		}
	}
}

func testTxn(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t)
	if _, err := cli.Put(ctx, "txn/k", "v1"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.Value("txn/k"), "=", "v1"), clientv3.Compare(clientv3.Version("txn/k"), "=", 1)).
		Then(clientv3.OpPut("txn/k", "v2"), clientv3.OpPut("txn/other", "o"), clientv3.OpGet("txn/k")).
		Else(clientv3.OpPut("txn/k", "wrong")).Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Succeeded || len(resp.Responses) != 3 {
		t.Fatalf("Txn = succeeded %t, %d responses, want the then branch's 3", resp.Succeeded, len(resp.Responses))
	}
	if got := resp.Responses[2].GetResponseRange().Kvs; len(got) != 1 || string(got[0].Value) != "v2" {
		t.Errorf("Txn: the get after the put saw %v, want v2", got)
	}
	// Both puts share one revision.
	a, _ := cli.Get(ctx, "txn/k")
	b, _ := cli.Get(ctx, "txn/other")
	if a.Kvs[0].ModRevision != b.Kvs[0].ModRevision || a.Kvs[0].ModRevision != resp.Header.Revision {
		t.Errorf("Txn puts at revisions %d and %d, header %d: want one revision", a.Kvs[0].ModRevision, b.Kvs[0].ModRevision, resp.Header.Revision)
	}
	// The else branch, with a nested transaction.
	resp, err = cli.Txn(ctx).If(clientv3.Compare(clientv3.Value("txn/k"), "=", "v1")).
		Else(clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision("txn/none"), "=", 0)},
			[]clientv3.Op{clientv3.OpPut("txn/nested", "n")}, nil)).Commit()
	if err != nil || resp.Succeeded {
		t.Fatalf("Txn else = %v, %v, want the else branch", resp, err)
	}
	if g, _ := cli.Get(ctx, "txn/nested"); len(g.Kvs) != 1 {
		t.Errorf("the nested transaction's put is missing")
	}
	// A read-only transaction, linearizable and serializable, on a follower.
	fcli := c.client(t, c.follower(t))
	for _, opts := range [][]clientv3.OpOption{nil, {clientv3.WithSerializable()}} {
		before := c.members[c.waitLeader(t)].srv.store.Revision()
		r, err := fcli.Txn(ctx).If(clientv3.Compare(clientv3.Value("txn/k"), "=", "v2")).
			Then(clientv3.OpGet("txn/", append([]clientv3.OpOption{clientv3.WithPrefix()}, opts...)...)).Commit()
		if err != nil || !r.Succeeded || len(r.Responses[0].GetResponseRange().Kvs) != 3 {
			t.Errorf("read-only Txn %v = %v, %v, want 3 keys", opts, r, err)
		}
		if len(opts) == 0 && r.Header.Revision < before {
			t.Errorf("linearizable read-only Txn at revision %d, before it the leader was at %d", r.Header.Revision, before)
		}
	}
}

func testWritesThroughFollower(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	f := c.follower(t)
	fcli := c.client(t, f)
	lcli := c.client(t, c.waitLeader(t))
	for i := range 20 {
		key := fmt.Sprintf("fw/%d", i)
		put, err := fcli.Put(ctx, key, "v")
		if err != nil {
			t.Fatalf("Put through follower m%d: %v", f, err)
		}
		if put.Header.MemberId != c.members[f].srv.ID() {
			t.Errorf("Put through follower answered by member %x, want %x", put.Header.MemberId, c.members[f].srv.ID())
		}
		// Linearizable: a read anywhere sees every completed write.
		get, err := lcli.Get(ctx, key)
		if err != nil || len(get.Kvs) != 1 {
			t.Fatalf("Get(%s) on the leader after the write = %v, %v", key, get, err)
		}
		// And on the follower after a write through the leader.
		if _, err := lcli.Put(ctx, key, "w"); err != nil {
			t.Fatal(err)
		}
		get, err = fcli.Get(ctx, key)
		if err != nil || len(get.Kvs) != 1 || string(get.Kvs[0].Value) != "w" {
			t.Fatalf("linearizable Get(%s) on the follower = %v, %v, want w", key, get, err)
		}
	}
}

func testKVErrors(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t)
	var last int64
	for i := range 5 {
		r, err := cli.Put(ctx, "err/k", fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		last = r.Header.Revision
	}
	if _, err := cli.Compact(ctx, last-2); err != nil {
		t.Fatal(err)
	}
	manyOps := make([]clientv3.Op, 129)
	for i := range manyOps {
		manyOps[i] = clientv3.OpPut(fmt.Sprintf("err/op%d", i), "v")
	}
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"compacted", func() error { _, err := cli.Get(ctx, "err/k", clientv3.WithRev(last-3)); return err },
			"etcdserver: mvcc: required revision has been compacted"},
		{"compact again", func() error { _, err := cli.Compact(ctx, last-3); return err },
			"etcdserver: mvcc: required revision has been compacted"},
		{"future revision", func() error { _, err := cli.Get(ctx, "err/k", clientv3.WithRev(last+1000)); return err },
			"etcdserver: mvcc: required revision is a future revision"},
		{"too many ops", func() error { _, err := cli.Txn(ctx).Then(manyOps...).Commit(); return err },
			"etcdserver: too many operations in txn request"},
		{"request too large", func() error { _, err := cli.Put(ctx, "err/big", strings.Repeat("x", 1600*1024)); return err },
			"etcdserver: request is too large"},
		{"empty key", func() error { _, err := cli.Put(ctx, "", "v"); return err }, "etcdserver: key is not provided"},
		{"unknown lease", func() error { _, err := cli.Put(ctx, "err/l", "v", clientv3.WithLease(12345)); return err },
			"etcdserver: requested lease not found"},
		{"duplicate key in txn", func() error {
			_, err := cli.Txn(ctx).Then(clientv3.OpPut("err/d", "1"), clientv3.OpPut("err/d", "2")).Commit()
			return err
		}, "etcdserver: duplicate key given in txn request"},
	}
	for _, tt := range tests {
		if err := tt.do(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}
