package kv

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

const (
	eq = pb.Compare_EQUAL
	gt = pb.Compare_GREATER
	lt = pb.Compare_LESS
	ne = pb.Compare_NOT_EQUAL
)

func cmpValue(key, end string, result pb.Compare_CompareResult, value string) *pb.Compare {
	return &pb.Compare{Key: []byte(key), RangeEnd: bytesOrNil(end), Result: result, Target: pb.Compare_VALUE,
		TargetUnion: &pb.Compare_Value{Value: []byte(value)}}
}

func cmpVersion(key, end string, result pb.Compare_CompareResult, v int64) *pb.Compare {
	return &pb.Compare{Key: []byte(key), RangeEnd: bytesOrNil(end), Result: result, Target: pb.Compare_VERSION,
		TargetUnion: &pb.Compare_Version{Version: v}}
}

func TestTxnCompare(t *testing.T) {
	tests := []struct {
		name string
		cmps []*pb.Compare
		want bool
	}{
		{"no compares", nil, true},
		{"value equal", []*pb.Compare{cmpValue("a", "", eq, "1")}, true},
		{"value equal, different", []*pb.Compare{cmpValue("a", "", eq, "2")}, false},
		{"value greater", []*pb.Compare{cmpValue("a", "", gt, "0")}, true},
		{"value less", []*pb.Compare{cmpValue("a", "", lt, "2")}, true},
		{"value not equal", []*pb.Compare{cmpValue("a", "", ne, "1")}, false},
		{"value of a missing key always fails", []*pb.Compare{cmpValue("zz", "", ne, "1")}, false},
		{"version of a missing key is 0", []*pb.Compare{cmpVersion("zz", "", eq, 0)}, true},
		{"create of a missing key is 0", []*pb.Compare{{Key: []byte("zz"), Target: pb.Compare_CREATE, TargetUnion: &pb.Compare_CreateRevision{}}}, true},
		{"mod greater", []*pb.Compare{{Key: []byte("a"), Result: gt, Target: pb.Compare_MOD, TargetUnion: &pb.Compare_ModRevision{ModRevision: 1}}}, true},
		{"mod equal", []*pb.Compare{{Key: []byte("b"), Result: eq, Target: pb.Compare_MOD, TargetUnion: &pb.Compare_ModRevision{ModRevision: 4}}}, true},
		{"create less", []*pb.Compare{{Key: []byte("b"), Result: lt, Target: pb.Compare_CREATE, TargetUnion: &pb.Compare_CreateRevision{CreateRevision: 3}}}, false},
		{"version less", []*pb.Compare{cmpVersion("b", "", lt, 3)}, true},
		{"lease equal", []*pb.Compare{{Key: []byte("b"), Target: pb.Compare_LEASE, TargetUnion: &pb.Compare_Lease{Lease: 5}}}, true},
		{"lease not equal", []*pb.Compare{{Key: []byte("a"), Result: ne, Target: pb.Compare_LEASE, TargetUnion: &pb.Compare_Lease{Lease: 5}}}, true},
		{"target union of another kind compares with 0", []*pb.Compare{{Key: []byte("a"), Result: gt, Target: pb.Compare_VERSION, TargetUnion: &pb.Compare_Value{Value: []byte("x")}}}, true},
		{"range: every key must match", []*pb.Compare{cmpValue("a", "c", eq, "1")}, false},
		{"range: all match", []*pb.Compare{cmpVersion("a", "c", gt, 0)}, true},
		{"range over no keys: version 0", []*pb.Compare{cmpVersion("x", "y", eq, 0)}, true},
		{"range over no keys: value fails", []*pb.Compare{cmpValue("x", "y", ne, "")}, false},
		{"from-key range", []*pb.Compare{cmpVersion("a", "\x00", lt, 3)}, true},
		{"all compares must hold", []*pb.Compare{cmpValue("a", "", eq, "1"), cmpValue("b", "", eq, "1")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.grant(5, 60)
			h.put("a", "1")         // 2
			h.putLease("b", "1", 5) // 3
			h.putLease("b", "2", 5) // 4
			resp, err := h.txn(&pb.TxnRequest{Compare: tt.cmps})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Succeeded != tt.want {
				t.Errorf("Txn(%v).Succeeded = %v, want %v", tt.cmps, resp.Succeeded, tt.want)
			}
		})
	}
}

func TestTxnNestedReadsOwnWrites(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1") // 2
	r := &pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("a", "", eq, "1")},
		Success: []*pb.RequestOp{
			opDel("missing", ""),
			opPut("x", "1"),
			opGet("x", ""),
			opTxn(&pb.TxnRequest{
				// Evaluated before the outer puts: x does not exist yet.
				Compare: []*pb.Compare{cmpVersion("x", "", eq, 0)},
				Success: []*pb.RequestOp{opPut("y", "2")},
				Failure: []*pb.RequestOp{opPut("z", "2")},
			}),
			opDel("a", ""),
		},
		Failure: []*pb.RequestOp{opPut("never", "1")},
	}
	got, err := h.txn(r)
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{Revision: 3},
		Succeeded: true,
		Responses: []*pb.ResponseOp{
			{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: 2}}}},
			{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 3}}}},
			{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{
				Header: &pb.ResponseHeader{Revision: 3}, Kvs: []*mvccpb.KeyValue{kv("x", "1", 3, 3, 1, 0)}, Count: 1,
			}}},
			{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: &pb.TxnResponse{
				Header:    &pb.ResponseHeader{},
				Succeeded: true,
				Responses: []*pb.ResponseOp{{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 3}}}}},
			}}},
			{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{Revision: 3}, Deleted: 1}}},
		},
	}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("Txn (-want +got):\n%s", diff)
	}
	all, err := h.s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := protoDiff([]*mvccpb.KeyValue{kv("x", "1", 3, 3, 1, 0), kv("y", "2", 3, 3, 1, 0)}, all.Kvs); diff != "" {
		t.Errorf("keys after txn (-want +got):\n%s", diff)
	}
}

func TestTxnFailureBranch(t *testing.T) {
	h := newHarness(t)
	got, err := h.txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpVersion("a", "", gt, 0)},
		Success: []*pb.RequestOp{opPut("s", "1")},
		Failure: []*pb.RequestOp{opPut("f", "1"), opGet("f", "")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TxnResponse{
		Header: &pb.ResponseHeader{Revision: 2},
		Responses: []*pb.ResponseOp{
			{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 2}}}},
			{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{
				Header: &pb.ResponseHeader{Revision: 2}, Kvs: []*mvccpb.KeyValue{kv("f", "1", 2, 2, 1, 0)}, Count: 1,
			}}},
		},
	}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("Txn (-want +got):\n%s", diff)
	}
}

func TestTxnErrorsChangeNothing(t *testing.T) {
	rangeAt := func(rev int64) *pb.RequestOp {
		return &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Revision: rev}}}
	}
	putLease := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("p"), Lease: 42}}}
	ignoreMissing := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("m"), IgnoreValue: true}}}
	tests := []struct {
		name    string
		req     *pb.TxnRequest
		wantErr error
	}{
		{"future revision", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), rangeAt(6)}}, rpctypes.ErrGRPCFutureRev},
		{"compacted revision", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), rangeAt(3)}}, rpctypes.ErrGRPCCompacted},
		{"negative revision compares with the compaction point", &pb.TxnRequest{Success: []*pb.RequestOp{rangeAt(-1)}}, rpctypes.ErrGRPCCompacted},
		{"unknown lease in a nested txn", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{putLease}})}}, rpctypes.ErrGRPCLeaseNotFound},
		{"ignore_value on a missing key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), ignoreMissing}}, rpctypes.ErrGRPCKeyNotFound},
		{"duplicate key", &pb.TxnRequest{Success: []*pb.RequestOp{opPut("x", "1"), opPut("x", "2")}}, rpctypes.ErrGRPCDuplicateKey},
		{"empty op", &pb.TxnRequest{Success: []*pb.RequestOp{{}}}, rpctypes.ErrGRPCKeyNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.put("a", "1") // 2
			h.put("a", "2") // 3
			h.put("a", "3") // 4
			h.put("a", "4") // 5
			if err := h.compact(4); err != nil {
				t.Fatal(err)
			}
			if _, err := h.txn(tt.req); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Txn error = %v, want %v", err, tt.wantErr)
			}
			if got := h.s.Revision(); got != 5 {
				t.Errorf("Revision() after a refused txn = %d, want 5", got)
			}
			if got := h.get("x"); got != nil {
				t.Errorf("get(x) after a refused txn = %v, want nothing", got)
			}
		})
	}
	// The same negative revision outside a txn reads the current revision.
	h := newHarness(t)
	h.put("a", "1")
	if err := h.compact(2); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: -1}); err != nil {
		t.Errorf("Range(revision -1) = %v, want nil", err)
	}
}

func TestCheckTxn(t *testing.T) {
	tests := []struct {
		name      string
		req       *pb.TxnRequest
		maxTxnOps int
		wantErr   error
	}{
		{name: "put twice", req: &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opPut("a", "2")}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "put and delete", req: &pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1"), opDel("a", "")}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "delete a range then put inside it", req: &pb.TxnRequest{Failure: []*pb.RequestOp{opDel("a", "c"), opPut("b", "1")}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "put at the range end", req: &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "c"), opPut("c", "1")}}},
		{name: "from-key delete covers nothing (as in etcd)", req: &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "\x00"), opPut("b", "1")}}},
		{name: "two deletes overlap", req: &pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "c"), opDel("b", "")}}},
		{name: "same key in both branches of a nested txn", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1")}, Failure: []*pb.RequestOp{opPut("a", "2")}}),
		}}},
		{name: "nested put and outer put", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("a", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "2")}}),
		}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "nested put and outer delete", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opTxn(&pb.TxnRequest{Failure: []*pb.RequestOp{opPut("b", "2")}}), opDel("a", "z"),
		}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "nested delete and outer put", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("b", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "z")}}),
		}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "an earlier nested delete and a later nested put", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "")}}),
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1")}}),
		}}, wantErr: rpctypes.ErrGRPCDuplicateKey},
		{name: "an earlier nested put and a later nested delete pass (as in etcd)", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1")}}),
			opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "")}}),
		}}},
		{name: "too many compares", req: &pb.TxnRequest{Compare: []*pb.Compare{cmpVersion("a", "", 0, 0), cmpVersion("b", "", 0, 0), cmpVersion("c", "", 0, 0)}}, maxTxnOps: 2, wantErr: rpctypes.ErrGRPCTooManyOps},
		{name: "nested ops share the budget", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("a", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("b", "1"), opPut("c", "1")}}),
		}}, maxTxnOps: 3, wantErr: rpctypes.ErrGRPCTooManyOps},
		{name: "within the budget", req: &pb.TxnRequest{Success: []*pb.RequestOp{
			opPut("a", "1"), opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("b", "1")}}),
		}}, maxTxnOps: 3},
		{name: "compare without a key", req: &pb.TxnRequest{Compare: []*pb.Compare{{}}}, wantErr: rpctypes.ErrGRPCEmptyKey},
		{name: "put without a key", req: &pb.TxnRequest{Success: []*pb.RequestOp{opPut("", "1")}}, wantErr: rpctypes.ErrGRPCEmptyKey},
		{name: "empty op", req: &pb.TxnRequest{Failure: []*pb.RequestOp{{}}}, wantErr: rpctypes.ErrGRPCKeyNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.maxTxnOps
			if limit == 0 {
				limit = 128
			}
			if err := CheckTxn(tt.req, limit); !errors.Is(err, tt.wantErr) {
				t.Errorf("CheckTxn(%v, %d) = %v, want %v", tt.req, limit, err, tt.wantErr)
			}
		})
	}
}

// A nested put followed by a nested delete of the same key passes etcd's
// check: both changes land in one revision, in order.
func TestTxnPutThenDeleteSameKeyInOneRevision(t *testing.T) {
	h := newHarness(t)
	h.put("a", "0") // 2
	_, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{
		opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "1")}}),
		opTxn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "")}}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.get("a"); got != nil {
		t.Errorf("get(a) = %v, want nothing", got)
	}
	r, err := h.s.Range(&pb.RangeRequest{Key: []byte("a"), Revision: 2})
	if err != nil || len(r.Kvs) != 1 {
		t.Errorf("Range(a, rev 2) = %v, %v, want the old value", r, err)
	}
	h.put("a", "2") // 4
	if diff := protoDiff(kv("a", "2", 4, 4, 1, 0), h.get("a")); diff != "" {
		t.Errorf("get(a) after re-creating (-want +got):\n%s", diff)
	}
}

func TestReadOnlyTxnPath(t *testing.T) {
	h := newHarness(t)
	h.put("a", "1")
	got, err := h.s.Txn(&pb.TxnRequest{Compare: []*pb.Compare{cmpValue("a", "", pb.Compare_EQUAL, "1")}, Success: []*pb.RequestOp{opGet("a", "")}})
	if err != nil {
		t.Fatal(err)
	}
	want := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{Revision: 2},
		Succeeded: true,
		Responses: []*pb.ResponseOp{{Response: &pb.ResponseOp_ResponseRange{ResponseRange: &pb.RangeResponse{
			Header: &pb.ResponseHeader{Revision: 2}, Kvs: []*mvccpb.KeyValue{kv("a", "1", 2, 2, 1, 0)}, Count: 1,
		}}}},
	}
	if diff := protoDiff(want, got); diff != "" {
		t.Errorf("Txn (-want +got):\n%s", diff)
	}
	if _, err := h.s.Txn(&pb.TxnRequest{Success: []*pb.RequestOp{opPut("a", "2")}}); !errors.Is(err, ErrTxnNotReadOnly) {
		t.Errorf("Txn with a put = %v, want %v", err, ErrTxnNotReadOnly)
	}
	serializable := &pb.RequestOp{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte("a"), Serializable: true}}}
	if !IsTxnSerializable(&pb.TxnRequest{Success: []*pb.RequestOp{serializable}}) {
		t.Error("IsTxnSerializable(serializable range) = false, want true")
	}
	if IsTxnSerializable(&pb.TxnRequest{Success: []*pb.RequestOp{opGet("a", "")}}) {
		t.Error("IsTxnSerializable(linearizable range) = true, want false")
	}
}

func TestIntervalSet(t *testing.T) {
	var s intervalSet
	s.add(interval{begin: []byte("d"), end: []byte("f")})
	s.add(interval{begin: []byte("a"), end: []byte("b")})
	s.add(interval{begin: []byte("x"), inf: true})
	s.add(interval{begin: []byte("b"), end: []byte("c")}) // touches [a, b)
	s.add(interval{begin: []byte("e"), end: []byte("e")}) // empty
	s.add(interval{begin: []byte("z"), end: []byte("a")}) // inverted
	for k, want := range map[string]bool{
		"": false, "a": true, "b": true, "bz": true, "c": false, "d": true, "e": true, "f": false,
		"w": false, "x": true, "zzzz": true,
	} {
		if got := s.contains([]byte(k)); got != want {
			t.Errorf("contains(%q) = %v, want %v (set %v)", k, got, want, s.ivs)
		}
	}
	if len(s.ivs) != 3 {
		t.Errorf("intervals = %d, want 3 merged: %v", len(s.ivs), s.ivs)
	}
	s.add(interval{begin: []byte("0"), inf: true})
	if len(s.ivs) != 1 || !s.contains([]byte("c")) {
		t.Errorf("after adding [0, inf): %v, want one interval", s.ivs)
	}
}

// etcd's duplicate-key rule does not see a from-key delete, so a later
// ignore_value put of a key it removed passes every check; etcd panics
// applying it. Here the put goes on with an empty value.
func TestTxnIgnoreValueAfterFromKeyDelete(t *testing.T) {
	h := newHarness(t)
	h.put("b", "old") // 2
	ignore := &pb.RequestOp{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("b"), IgnoreValue: true}}}
	if _, err := h.txn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("a", "\x00"), ignore}}); err != nil {
		t.Fatalf("Txn = %v", err)
	}
	if diff := protoDiff(kv("b", "", 3, 3, 1, 0), h.get("b")); diff != "" {
		t.Errorf("get(b) (-want +got):\n%s", diff)
	}
}
