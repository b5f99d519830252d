package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestRevisionsAdvanceOncePerWriteTransaction(t *testing.T) {
	h := newHarness(t)
	if got := h.s.Revision(); got != 1 {
		t.Fatalf("Revision() of a new store = %d, want 1", got)
	}
	steps := []struct {
		name    string
		do      func() int64 // returns the response header revision
		wantRev int64
	}{
		{"put a", func() int64 { return h.put("a", "1").Header.Revision }, 2},
		{"put b", func() int64 { return h.put("b", "1").Header.Revision }, 3},
		{"put a again", func() int64 { return h.put("a", "2").Header.Revision }, 4},
		{"delete missing", func() int64 { return h.del("zz", "").Header.Revision }, 4},
		{"delete a..c", func() int64 { return h.del("a", "c").Header.Revision }, 5},
		{"txn with three puts", func() int64 {
			r, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opPut("y", "1"), opPut("z", "1")}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Header.Revision
		}, 6},
		{"read-only txn", func() int64 {
			r, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opGet("x", "")}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Header.Revision
		}, 6},
		{"txn deleting nothing", func() int64 {
			r, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("nope", "")}})
			if err != nil {
				t.Fatal(err)
			}
			return r.Header.Revision
		}, 6},
		{"compaction", func() int64 {
			r := h.must(&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 3}})
			return r.(*pb.CompactionResponse).Header.Revision
		}, 6},
	}
	for _, st := range steps {
		if got := st.do(); got != st.wantRev {
			t.Errorf("%s: header revision = %d, want %d", st.name, got, st.wantRev)
		}
		if got := h.s.Revision(); got != st.wantRev {
			t.Errorf("%s: Revision() = %d, want %d", st.name, got, st.wantRev)
		}
	}
	// The txn's puts share revision 6 with sub-revisions; each has version 1.
	for _, k := range []string{"x", "y", "z"} {
		if diff := protoDiff(kv(k, "1", 6, 6, 1, 0), h.get(k)); diff != "" {
			t.Errorf("get(%q) (-want +got):\n%s", k, diff)
		}
	}
}

func TestKeyCreateModVersion(t *testing.T) {
	h := newHarness(t)
	h.put("k", "a")    // 2
	h.put("k", "b")    // 3
	h.del("k", "")     // 4
	h.put("k", "c")    // 5
	h.put("k", "d")    // 6
	h.put("other", "") // 7
	if diff := protoDiff(kv("k", "d", 5, 6, 2, 0), h.get("k")); diff != "" {
		t.Errorf("get(k) after recreate (-want +got):\n%s", diff)
	}
	if diff := protoDiff(kv("other", "", 7, 7, 1, 0), h.get("other")); diff != "" {
		t.Errorf("get(other) (-want +got):\n%s", diff)
	}
}

// rangeFixture is a store at revision 13 whose keys have varied versions,
// create and mod revisions and values; see the comments for each revision.
func rangeFixture(t *testing.T) *harness {
	h := newHarness(t)
	h.put("a", "3")    // 2
	h.put("b", "1")    // 3
	h.put("c", "2")    // 4
	h.put("a", "1")    // 5
	h.put("d", "5")    // 6
	h.put("e", "4")    // 7
	h.put("c", "9")    // 8
	h.del("d", "")     // 9
	h.put("d", "0")    // 10
	h.put("c", "7")    // 11
	h.put("foo", "f")  // 12
	h.put("foo1", "f") // 13
	return h
}

// The fixture's keys at revision 13.
var (
	fa    = kv("a", "1", 2, 5, 2, 0)
	fb    = kv("b", "1", 3, 3, 1, 0)
	fc    = kv("c", "7", 4, 11, 3, 0)
	fd    = kv("d", "0", 10, 10, 1, 0)
	fe    = kv("e", "4", 7, 7, 1, 0)
	ffoo  = kv("foo", "f", 12, 12, 1, 0)
	ffoo1 = kv("foo1", "f", 13, 13, 1, 0)
)

func TestRange(t *testing.T) {
	all := []*mvccpb.KeyValue{fa, fb, fc, fd, fe, ffoo, ffoo1}
	tests := []struct {
		name      string
		req       *pb.RangeRequest
		wantKvs   []*mvccpb.KeyValue
		wantCount int64
		wantMore  bool
		wantErr   error
	}{
		{name: "single key", req: &pb.RangeRequest{Key: []byte("c")}, wantKvs: []*mvccpb.KeyValue{fc}, wantCount: 1},
		{name: "missing key", req: &pb.RangeRequest{Key: []byte("zz")}, wantCount: 0},
		{name: "range", req: &pb.RangeRequest{Key: []byte("b"), RangeEnd: []byte("e")}, wantKvs: []*mvccpb.KeyValue{fb, fc, fd}, wantCount: 3},
		{name: "empty range", req: &pb.RangeRequest{Key: []byte("e"), RangeEnd: []byte("b")}, wantCount: 0},
		{name: "prefix", req: &pb.RangeRequest{Key: []byte("foo"), RangeEnd: []byte("fop")}, wantKvs: []*mvccpb.KeyValue{ffoo, ffoo1}, wantCount: 2},
		{name: "from key", req: &pb.RangeRequest{Key: []byte("e"), RangeEnd: []byte{0}}, wantKvs: []*mvccpb.KeyValue{fe, ffoo, ffoo1}, wantCount: 3},
		{name: "all keys", req: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}, wantKvs: all, wantCount: 7},
		{name: "limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), Limit: 2}, wantKvs: []*mvccpb.KeyValue{fa, fb}, wantCount: 7, wantMore: true},
		{name: "limit exact", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), Limit: 2}, wantKvs: []*mvccpb.KeyValue{fa, fb}, wantCount: 2},
		{name: "negative limit is no limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), Limit: -1}, wantKvs: []*mvccpb.KeyValue{fa, fb}, wantCount: 2},
		{name: "count only", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("z"), CountOnly: true, Limit: 1}, wantCount: 7},
		{name: "keys only", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), KeysOnly: true},
			wantKvs: []*mvccpb.KeyValue{kv("a", "", 2, 5, 2, 0), kv("b", "", 3, 3, 1, 0)}, wantCount: 2},
		{name: "sort key descend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("d"), SortOrder: pb.RangeRequest_DESCEND},
			wantKvs: []*mvccpb.KeyValue{fc, fb, fa}, wantCount: 3},
		{name: "sort key ascend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("d"), SortOrder: pb.RangeRequest_ASCEND},
			wantKvs: []*mvccpb.KeyValue{fa, fb, fc}, wantCount: 3},
		{name: "sort version, order none means ascend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), SortTarget: pb.RangeRequest_VERSION},
			wantKvs: []*mvccpb.KeyValue{fb, fd, fe, fa, fc}, wantCount: 5},
		{name: "sort version descend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), SortTarget: pb.RangeRequest_VERSION, SortOrder: pb.RangeRequest_DESCEND},
			wantKvs: []*mvccpb.KeyValue{fc, fa, fb, fd, fe}, wantCount: 5},
		{name: "sort create ascend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), SortTarget: pb.RangeRequest_CREATE, SortOrder: pb.RangeRequest_ASCEND},
			wantKvs: []*mvccpb.KeyValue{fa, fb, fc, fe, fd}, wantCount: 5},
		{name: "sort mod descend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_DESCEND},
			wantKvs: []*mvccpb.KeyValue{fc, fd, fe, fa, fb}, wantCount: 5},
		{name: "sort value ascend", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_ASCEND},
			wantKvs: []*mvccpb.KeyValue{fd, fa, fb, fe, fc}, wantCount: 5},
		{name: "sort value with keys only sorts by the value", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("c"), SortTarget: pb.RangeRequest_VALUE, SortOrder: pb.RangeRequest_DESCEND, KeysOnly: true},
			wantKvs: []*mvccpb.KeyValue{kv("a", "", 2, 5, 2, 0), kv("b", "", 3, 3, 1, 0)}, wantCount: 2},
		{name: "sort then limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), SortTarget: pb.RangeRequest_MOD, SortOrder: pb.RangeRequest_DESCEND, Limit: 2},
			wantKvs: []*mvccpb.KeyValue{fc, fd}, wantCount: 5, wantMore: true},
		{name: "min mod revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), MinModRevision: 7},
			wantKvs: []*mvccpb.KeyValue{fc, fd, fe}, wantCount: 5},
		{name: "max mod revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), MaxModRevision: 5},
			wantKvs: []*mvccpb.KeyValue{fa, fb}, wantCount: 5},
		{name: "min create revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), MinCreateRevision: 4},
			wantKvs: []*mvccpb.KeyValue{fc, fd, fe}, wantCount: 5},
		{name: "max create revision with limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), MaxCreateRevision: 4, Limit: 2},
			wantKvs: []*mvccpb.KeyValue{fa, fb}, wantCount: 5, wantMore: true},
		{name: "filters leaving exactly limit", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), MaxCreateRevision: 3, Limit: 2},
			wantKvs: []*mvccpb.KeyValue{fa, fb}, wantCount: 5},
		{name: "past revision", req: &pb.RangeRequest{Key: []byte("a"), RangeEnd: []byte("f"), Revision: 8},
			wantKvs: []*mvccpb.KeyValue{kv("a", "1", 2, 5, 2, 0), fb, kv("c", "9", 4, 8, 2, 0), kv("d", "5", 6, 6, 1, 0), fe}, wantCount: 5},
		{name: "past revision before a delete", req: &pb.RangeRequest{Key: []byte("d"), Revision: 9}, wantCount: 0},
		{name: "revision 1 is empty", req: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 1}, wantCount: 0},
		{name: "current revision", req: &pb.RangeRequest{Key: []byte("a"), Revision: 13}, wantKvs: []*mvccpb.KeyValue{fa}, wantCount: 1},
		{name: "future revision", req: &pb.RangeRequest{Key: []byte("a"), Revision: 14}, wantErr: rpctypes.ErrGRPCFutureRev},
		{name: "empty key", req: &pb.RangeRequest{}, wantErr: rpctypes.ErrGRPCEmptyKey},
		{name: "bad sort order", req: &pb.RangeRequest{Key: []byte("a"), SortOrder: 7}, wantErr: rpctypes.ErrGRPCInvalidSortOption},
		{name: "bad sort target", req: &pb.RangeRequest{Key: []byte("a"), SortTarget: 9}, wantErr: rpctypes.ErrGRPCInvalidSortOption},
	}
	h := rangeFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.s.Range(tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Range(%v) error = %v, want %v", tt.req, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			want := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 13}, Kvs: tt.wantKvs, Count: tt.wantCount, More: tt.wantMore}
			if diff := protoDiff(want, got); diff != "" {
				t.Errorf("Range(%v) (-want +got):\n%s", tt.req, diff)
			}
		})
	}
}

func TestRangeCompacted(t *testing.T) {
	h := rangeFixture(t)
	if err := h.compact(8); err != nil {
		t.Fatalf("compact(8) = %v", err)
	}
	tests := []struct {
		rev     int64
		wantErr error
		wantC   *mvccpb.KeyValue
	}{
		{rev: 7, wantErr: rpctypes.ErrGRPCCompacted},
		{rev: 2, wantErr: rpctypes.ErrGRPCCompacted},
		{rev: 8, wantC: kv("c", "9", 4, 8, 2, 0)},
		{rev: 10, wantC: kv("c", "9", 4, 8, 2, 0)},
		{rev: 0, wantC: fc},
	}
	for _, tt := range tests {
		got, err := h.s.Range(&pb.RangeRequest{Key: []byte("c"), Revision: tt.rev})
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Range(c, rev %d) error = %v, want %v", tt.rev, err, tt.wantErr)
			continue
		}
		if err == nil {
			if diff := protoDiff([]*mvccpb.KeyValue{tt.wantC}, got.Kvs); diff != "" {
				t.Errorf("Range(c, rev %d) (-want +got):\n%s", tt.rev, diff)
			}
		}
	}
	// At the compaction revision every key that existed then still reads.
	got, err := h.s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: 8})
	if err != nil {
		t.Fatal(err)
	}
	want := []*mvccpb.KeyValue{fa, fb, kv("c", "9", 4, 8, 2, 0), kv("d", "5", 6, 6, 1, 0), fe}
	if diff := protoDiff(want, got.Kvs); diff != "" {
		t.Errorf("Range(all, rev 8) after compact(8) (-want +got):\n%s", diff)
	}
	// d was deleted at 9, after the compaction point: its delete survives.
	got, err = h.s.Range(&pb.RangeRequest{Key: []byte("d"), Revision: 9})
	if err != nil || len(got.Kvs) != 0 {
		t.Errorf("Range(d, rev 9) = %v, %v, want no keys", got, err)
	}
}

func TestCompactErrors(t *testing.T) {
	h := rangeFixture(t)
	tests := []struct {
		rev     int64
		wantErr error
	}{
		{14, rpctypes.ErrGRPCFutureRev},
		{5, nil},
		{5, rpctypes.ErrGRPCCompacted},
		{4, rpctypes.ErrGRPCCompacted},
		{13, nil},
	}
	for _, tt := range tests {
		if err := h.compact(tt.rev); !errors.Is(err, tt.wantErr) {
			t.Errorf("compact(%d) = %v, want %v", tt.rev, err, tt.wantErr)
		}
	}
	if got := h.s.CompactRevision(); got != 13 {
		t.Errorf("CompactRevision() = %d, want 13", got)
	}
}

func TestCompactDropsHistoryAndSize(t *testing.T) {
	h := newHarness(t)
	for range 10 {
		h.put("k", "vvvvvvvvvv")
	}
	h.put("gone", "x")
	h.del("gone", "")
	before := h.s.Size()
	if err := h.compact(h.s.Revision()); err != nil {
		t.Fatal(err)
	}
	after := h.s.Size()
	want := recordBytes([]byte("k"), record{value: []byte("vvvvvvvvvv")})
	if after != want {
		t.Errorf("Size() after compacting = %d, want %d (one record; before: %d)", after, want, before)
	}
	if n := h.s.keys.Len(); n != 1 {
		t.Errorf("keys after compacting = %d, want 1 (the deleted key is gone)", n)
	}
	if n := h.s.revs.Len(); n != 1 {
		t.Errorf("revision index after compacting = %d entries, want 1", n)
	}
}

func TestPut(t *testing.T) {
	tests := []struct {
		name     string
		req      *pb.PutRequest
		wantResp *pb.PutResponse
		wantErr  error
		wantKV   *mvccpb.KeyValue // "k" afterwards
	}{
		{
			name:     "plain",
			req:      &pb.PutRequest{Key: []byte("k"), Value: []byte("new")},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}},
			wantKV:   kv("k", "new", 2, 4, 3, 0),
		},
		{
			name:     "prev_kv",
			req:      &pb.PutRequest{Key: []byte("k"), Value: []byte("new"), PrevKv: true},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}, PrevKv: kv("k", "v2", 2, 3, 2, 7)},
			wantKV:   kv("k", "new", 2, 4, 3, 0),
		},
		{
			name:     "prev_kv of a missing key",
			req:      &pb.PutRequest{Key: []byte("m"), Value: []byte("x"), PrevKv: true},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}},
			wantKV:   kv("k", "v2", 2, 3, 2, 7),
		},
		{
			name:     "ignore_value keeps the value, drops the lease",
			req:      &pb.PutRequest{Key: []byte("k"), IgnoreValue: true},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}},
			wantKV:   kv("k", "v2", 2, 4, 3, 0),
		},
		{
			name:     "ignore_lease keeps the lease",
			req:      &pb.PutRequest{Key: []byte("k"), Value: []byte("new"), IgnoreLease: true},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}},
			wantKV:   kv("k", "new", 2, 4, 3, 7),
		},
		{
			name:     "ignore both",
			req:      &pb.PutRequest{Key: []byte("k"), IgnoreValue: true, IgnoreLease: true},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}},
			wantKV:   kv("k", "v2", 2, 4, 3, 7),
		},
		{
			name:     "another lease",
			req:      &pb.PutRequest{Key: []byte("k"), Value: []byte("new"), Lease: 8},
			wantResp: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 4}},
			wantKV:   kv("k", "new", 2, 4, 3, 8),
		},
		{name: "ignore_value on a missing key", req: &pb.PutRequest{Key: []byte("m"), IgnoreValue: true}, wantErr: rpctypes.ErrGRPCKeyNotFound},
		{name: "ignore_lease on a missing key", req: &pb.PutRequest{Key: []byte("m"), IgnoreLease: true}, wantErr: rpctypes.ErrGRPCKeyNotFound},
		{name: "unknown lease", req: &pb.PutRequest{Key: []byte("k"), Lease: 99}, wantErr: rpctypes.ErrGRPCLeaseNotFound},
		{name: "unknown lease is checked before a missing key", req: &pb.PutRequest{Key: []byte("m"), IgnoreValue: true, Lease: 99}, wantErr: rpctypes.ErrGRPCLeaseNotFound},
		{name: "empty key", req: &pb.PutRequest{Value: []byte("x")}, wantErr: rpctypes.ErrGRPCEmptyKey},
		{name: "ignore_value with a value", req: &pb.PutRequest{Key: []byte("k"), Value: []byte("x"), IgnoreValue: true}, wantErr: rpctypes.ErrGRPCValueProvided},
		{name: "ignore_lease with a lease", req: &pb.PutRequest{Key: []byte("k"), Lease: 7, IgnoreLease: true}, wantErr: rpctypes.ErrGRPCLeaseProvided},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.grant(7, 60)
			h.grant(8, 60)
			h.put("k", "v1")         // 2
			h.putLease("k", "v2", 7) // 3
			got, err := h.apply(&pb.InternalRaftRequest{Put: tt.req})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apply(put %v) error = %v, want %v", tt.req, err, tt.wantErr)
			}
			if err != nil {
				if rev := h.s.Revision(); rev != 3 {
					t.Errorf("Revision() after a refused put = %d, want 3", rev)
				}
				return
			}
			if diff := protoDiff(tt.wantResp, got); diff != "" {
				t.Errorf("Apply(put %v) (-want +got):\n%s", tt.req, diff)
			}
			if diff := protoDiff(tt.wantKV, h.get("k")); diff != "" {
				t.Errorf("get(k) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDeleteRange(t *testing.T) {
	h := rangeFixture(t)
	got := h.must(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("b"), RangeEnd: []byte("d"), PrevKv: true}})
	want := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: 14}, Deleted: 2, PrevKvs: []*mvccpb.KeyValue{fb, fc}}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("delete [b, d) (-want +got):\n%s", diff)
	}
	got = h.must(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("foo"), RangeEnd: []byte{0}}})
	want = &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: 15}, Deleted: 2}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("delete from foo (-want +got):\n%s", diff)
	}
	resp, err := h.s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := protoDiff([]*mvccpb.KeyValue{fa, fd, fe}, resp.Kvs); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	if _, err := h.apply(&pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{}}); !errors.Is(err, rpctypes.ErrGRPCEmptyKey) {
		t.Errorf("delete with no key = %v, want %v", err, rpctypes.ErrGRPCEmptyKey)
	}
}

func TestApplyBadCommands(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name    string
		index   uint64
		cmd     []byte
		wantErr error
	}{
		{"garbage", 1, []byte{0xff, 0xff, 0xff}, nil},
		{"no request", 2, mustEncode(t, &pb.InternalRaftRequest{Header: &pb.RequestHeader{ID: 1}}), ErrUnsupportedCommand},
		{"empty is a no-op", 3, nil, nil},
		{"stale index", 3, mustEncode(t, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("a")}}), ErrStaleIndex},
	}
	for _, tt := range tests {
		resp, err := h.s.Apply(tt.index, tt.cmd)
		switch {
		case tt.name == "garbage":
			if err == nil {
				t.Errorf("%s: Apply = %v, nil, want an error", tt.name, resp)
			}
		case !errors.Is(err, tt.wantErr):
			t.Errorf("%s: Apply error = %v, want %v", tt.name, err, tt.wantErr)
		}
	}
	if got := h.s.Revision(); got != 1 {
		t.Errorf("Revision() after bad commands = %d, want 1", got)
	}
	if got := h.s.AppliedIndex(); got != 3 {
		t.Errorf("AppliedIndex() = %d, want 3", got)
	}
}

func mustEncode(t *testing.T, r *pb.InternalRaftRequest) []byte {
	t.Helper()
	b, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Config{}.Validate() = %v, want nil", err)
	}
	err := Config{WatchQueueEvents: -1, MaxWatchersPerStream: -2}.Validate()
	if err == nil {
		t.Fatal("Validate() of negative limits = nil, want an error")
	}
	const want = "kv: config: WatchQueueEvents = -1, want >= 0\nkv: config: MaxWatchersPerStream = -2, want >= 0"
	if err.Error() != want {
		t.Errorf("Validate() = %q, want %q", err, want)
	}
}
