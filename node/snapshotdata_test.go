package node_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ironraft/ironraft/node"
)

func TestSnapshotDataRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		members map[uint64]string
		sm      []byte
	}{
		{map[uint64]string{}, nil},
		{map[uint64]string{1: "a:1", 7: "", 300: "c:3"}, []byte("state")},
		{map[uint64]string{2: "b"}, bytes.Repeat([]byte{0}, 100)},
	} {
		members, sm, err := node.DecodeSnapshotData(node.EncodeSnapshotData(tc.members, tc.sm))
		if err != nil {
			t.Errorf("DecodeSnapshotData(EncodeSnapshotData(%v, %q)) = %v", tc.members, tc.sm, err)
			continue
		}
		if diff := cmp.Diff(tc.members, members); diff != "" {
			t.Errorf("DecodeSnapshotData(EncodeSnapshotData(%v, ...)) members differ (-want +got):\n%s", tc.members, diff)
		}
		if !bytes.Equal(sm, tc.sm) {
			t.Errorf("DecodeSnapshotData(EncodeSnapshotData(..., %q)) state = %q, want %q", tc.sm, sm, tc.sm)
		}
	}
}

func TestDecodeSnapshotDataEmptyIsEmpty(t *testing.T) {
	members, sm, err := node.DecodeSnapshotData(nil)
	if err != nil || len(members) != 0 || len(sm) != 0 {
		t.Errorf("DecodeSnapshotData(nil) = %v, %q, %v, want an empty book and state", members, sm, err)
	}
}

func TestDecodeSnapshotDataRefusesForeignData(t *testing.T) {
	data := node.EncodeSnapshotData(map[uint64]string{1: "a"}, []byte("x"))
	data[len("IRSN")+2] ^= 0xff // corrupt the book: the checksum no longer matches
	for _, bad := range [][]byte{[]byte("not a snapshot"), data} {
		if _, _, err := node.DecodeSnapshotData(bad); err == nil {
			t.Errorf("DecodeSnapshotData(%q) = nil error, want one", bad)
		}
	}
}
