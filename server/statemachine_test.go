package server

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"

	"github.com/ironraft/ironraft/kv"
	"github.com/ironraft/ironraft/node"
)

func newTestStateMachine(t *testing.T) *stateMachine {
	t.Helper()
	st, err := kv.New(kv.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return newStateMachine(st)
}

func mustCommand(t *testing.T, kind byte, m *membershippb.Member) []byte {
	t.Helper()
	b, err := encodeCommand(kind, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustKV(t *testing.T, r *pb.InternalRaftRequest) []byte {
	t.Helper()
	b, _, err := encodeKV(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var memberCmp = cmp.AllowUnexported(memberAttrs{})

// TestStateMachineMemberTable applies the member-table commands and checks
// the table, the kv store's applied index, and a snapshot round trip.
func TestStateMachineMemberTable(t *testing.T) {
	sm := newTestStateMachine(t)
	cmds := []node.Command{
		{Index: 1, Data: mustKV(t, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("v")}})},
		{Index: 2, Data: mustCommand(t, kindPublish, &membershippb.Member{ID: 7,
			MemberAttributes: &membershippb.Attributes{Name: "a", ClientUrls: []string{"http://c:1"}},
			RaftAttributes:   &membershippb.RaftAttributes{PeerUrls: []string{"http://p:1"}}})},
		{Index: 3, Data: mustCommand(t, kindMemberAdded, &membershippb.Member{ID: 9,
			RaftAttributes: &membershippb.RaftAttributes{PeerUrls: []string{"http://p:2"}}})},
		// A publish does not replace peer URLs the table has.
		{Index: 4, Data: mustCommand(t, kindPublish, &membershippb.Member{ID: 9,
			MemberAttributes: &membershippb.Attributes{Name: "b"},
			RaftAttributes:   &membershippb.RaftAttributes{PeerUrls: []string{"http://elsewhere:9"}}})},
		{Index: 5, Data: mustCommand(t, kindMemberAdded, &membershippb.Member{ID: 11,
			RaftAttributes: &membershippb.RaftAttributes{PeerUrls: []string{"http://p:3"}, IsLearner: true}})},
		{Index: 6, Data: mustCommand(t, kindMemberForget, &membershippb.Member{ID: 11})},
		{Index: 7, Data: []byte{kindPublish, 0xff}}, // garbage
		{Index: 8, Data: []byte{99}},                // unknown kind
	}
	res := sm.Apply(cmds)
	for i, r := range res[:6] {
		if r.(result).err != nil {
			t.Errorf("Apply: command %d: %v", i, r.(result).err)
		}
	}
	for i, r := range res[6:] {
		if !errors.Is(r.(result).err, errBadCommand) {
			t.Errorf("Apply: bad command %d = %v, want errBadCommand", i+6, r.(result).err)
		}
	}
	if got := sm.kv.AppliedIndex(); got != 8 {
		t.Errorf("kv applied index = %d, want 8", got)
	}
	want := []memberAttrs{
		{id: 7, name: "a", peerURLs: []string{"http://p:1"}, clientURLs: []string{"http://c:1"}},
		{id: 9, name: "b", peerURLs: []string{"http://p:2"}, clientURLs: nil, promote: true},
	}
	if diff := cmp.Diff(want, sm.memberTable(), memberCmp); diff != "" {
		t.Fatalf("member table diff (-want +got):\n%s", diff)
	}

	view, err := sm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := view.Write(&buf); err != nil {
		t.Fatal(err)
	}
	view.Release()
	restored := newTestStateMachine(t)
	if err := restored.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, restored.memberTable(), memberCmp); diff != "" {
		t.Errorf("restored member table diff (-want +got):\n%s", diff)
	}
	resp, err := restored.kv.Range(&pb.RangeRequest{Key: []byte("k")})
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Errorf("restored Range(k) = %v, %v, want v", resp, err)
	}
}

// TestRestoreBadSnapshotChangesNothing damages a snapshot in every byte of
// its members section and checks Restore refuses it and keeps the state.
func TestRestoreBadSnapshotChangesNothing(t *testing.T) {
	src := newTestStateMachine(t)
	src.Apply([]node.Command{{Index: 1, Data: mustCommand(t, kindPublish, &membershippb.Member{ID: 3,
		MemberAttributes: &membershippb.Attributes{Name: "x", ClientUrls: []string{"http://c:1"}}})}})
	var buf bytes.Buffer
	if err := writeMembersSection(&buf, src.memberTable()); err != nil {
		t.Fatal(err)
	}
	section := buf.Len()
	view, _ := src.Snapshot()
	buf.Reset()
	if err := view.Write(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	dst := newTestStateMachine(t)
	dst.Apply([]node.Command{{Index: 1, Data: mustCommand(t, kindPublish, &membershippb.Member{ID: 5})}})
	before := dst.memberTable()
	for i := range section {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if err := dst.Restore(bytes.NewReader(bad)); err == nil {
			t.Errorf("Restore with byte %d flipped = nil, want an error", i)
		}
		if err := dst.Restore(bytes.NewReader(good[:i])); err == nil {
			t.Errorf("Restore cut at byte %d = nil, want an error", i)
		}
	}
	if diff := cmp.Diff(before, dst.memberTable(), memberCmp); diff != "" {
		t.Errorf("a refused Restore changed the table (-before +after):\n%s", diff)
	}
}

func FuzzReadMembersSection(f *testing.F) {
	var buf bytes.Buffer
	writeMembersSection(&buf, []memberAttrs{{id: 1, name: "a", peerURLs: []string{"http://p:1"}, promote: true}})
	f.Add(buf.Bytes())
	f.Add([]byte(membersMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, err := readMembersSection(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			if !errors.Is(err, errBadSnapshot) {
				t.Fatalf("readMembersSection error %v does not wrap errBadSnapshot", err)
			}
			return
		}
		var out bytes.Buffer
		if err := writeMembersSection(&out, ms); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, out.Bytes()) {
			t.Fatalf("re-encoding a section that decoded gives other bytes")
		}
	})
}
