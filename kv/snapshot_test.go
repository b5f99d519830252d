package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// snapshotBytes writes a snapshot of s.
func snapshotBytes(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	sn := s.Snapshot()
	defer sn.Release()
	if err := sn.Write(&buf); err != nil {
		t.Fatalf("Snapshot.Write: %v", err)
	}
	return buf.Bytes()
}

// historyAt reads every key at every revision from the compaction point to
// rev.
func historyAt(t *testing.T, s *Store, rev int64) [][]*mvccpb.KeyValue {
	t.Helper()
	var out [][]*mvccpb.KeyValue
	for r := max(s.CompactRevision(), 1); r <= rev; r++ {
		resp, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, Revision: r})
		if err != nil {
			t.Fatalf("Range at %d: %v", r, err)
		}
		out = append(out, resp.Kvs)
	}
	return out
}

// leaseState is every lease with its keys.
func leaseState(s *Store) []LeaseInfo {
	var out []LeaseInfo
	for _, l := range s.Leases() {
		info, _ := s.Lease(l.ID)
		out = append(out, info)
	}
	return out
}

// busyHarness applies a mix of writes, leases and a compaction.
func busyHarness(t *testing.T, seed uint64) (*harness, *rand.Rand) {
	h := newHarness(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	h.grant(1, 10)
	h.grant(2, 20)
	for i := range 60 {
		if _, err := h.apply(randomWrite(rng)); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			h.putLease("lease/"+string(rune('a'+i%5)), "l", int64(1+i%2))
		}
	}
	if err := h.compact(h.s.Revision() - 20); err != nil {
		t.Fatal(err)
	}
	h.must(&pb.InternalRaftRequest{LeaseCheckpoint: &pb.LeaseCheckpointRequest{Checkpoints: []*pb.LeaseCheckpoint{{ID: 2, Remaining_TTL: 7}}}})
	return h, rng
}

func TestSnapshotWhileApplyingThenRestore(t *testing.T) {
	h, rng := busyHarness(t, 7)
	rev := h.s.Revision()
	wantHistory := historyAt(t, h.s, rev)
	wantLeases := leaseState(h.s)
	wantSize := h.s.Size()
	wantIndex := h.s.AppliedIndex()

	sn := h.s.Snapshot()
	// Apply goes on before the snapshot is written, revoking a lease and
	// compacting further: the view must not see any of it.
	var later []*pb.InternalRaftRequest
	for range 40 {
		later = append(later, randomWrite(rng))
	}
	later = append(later,
		&pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 1}},
		&pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev + 5}},
	)
	for _, r := range later {
		if _, err := h.apply(r); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := sn.Write(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	if sn.Revision() != rev || sn.AppliedIndex() != wantIndex {
		t.Errorf("snapshot at revision %d index %d, want %d, %d", sn.Revision(), sn.AppliedIndex(), rev, wantIndex)
	}

	r := newHarness(t)
	r.put("junk", "to be replaced")
	if err := r.s.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := r.s.Revision(); got != rev {
		t.Errorf("restored Revision() = %d, want %d", got, rev)
	}
	if got, want := r.s.CompactRevision(), rev-20; got != want {
		t.Errorf("restored CompactRevision() = %d, want %d", got, want)
	}
	if got := r.s.AppliedIndex(); got != wantIndex {
		t.Errorf("restored AppliedIndex() = %d, want %d", got, wantIndex)
	}
	if got := r.s.Size(); got != wantSize {
		t.Errorf("restored Size() = %d, want %d", got, wantSize)
	}
	if diff := protoDiff(wantHistory, historyAt(t, r.s, rev)); diff != "" {
		t.Errorf("restored history (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantLeases, leaseState(r.s)); diff != "" {
		t.Errorf("restored leases (-want +got):\n%s", diff)
	}

	// Replaying the later commands on the restored store gives the same
	// state, byte for byte.
	r.index = wantIndex
	for _, req := range later {
		if _, err := r.apply(req); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(snapshotBytes(t, h.s), snapshotBytes(t, r.s)) {
		t.Error("the restored store, after the same commands, differs from the original")
	}
}

func TestApplyIsDeterministic(t *testing.T) {
	a, _ := busyHarness(t, 11)
	b, _ := busyHarness(t, 11)
	if !bytes.Equal(snapshotBytes(t, a.s), snapshotBytes(t, b.s)) {
		t.Error("two stores applying the same commands differ")
	}
}

func TestRestoreWakesWatchers(t *testing.T) {
	src := newHarness(t)
	for range 10 {
		src.put("a", "x") // 2..11
	}
	src.put("b", "y") // 12
	if err := src.compact(5); err != nil {
		t.Fatal(err)
	}
	snap := snapshotBytes(t, src.s)

	dst := newHarness(t)
	dst.put("a", "old") // 2
	ws := dst.s.NewWatchStream()
	defer ws.Close()
	behind := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("a"), StartRevision: 2})
	synced := watch(t, ws, &pb.WatchCreateRequest{Key: []byte("b"), StartRevision: 6})
	expect(t, ws, created(2, behind), created(2, synced), events(2, behind, putEv(kv("a", "old", 2, 2, 1, 0))))
	if err := dst.s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	expect(t, ws,
		// behind needs revision 3 onwards: compacted away at 5.
		&pb.WatchResponse{Header: &pb.ResponseHeader{}, WatchId: behind, CompactRevision: 5, Canceled: true},
		// synced wanted revision 6 onwards: b's put at 12 is in history.
		events(12, synced, putEv(kv("b", "y", 12, 12, 1, 0))),
	)
	dst.index = src.index
	dst.put("b", "z")
	expect(t, ws, events(13, synced, putEv(kv("b", "z", 12, 13, 2, 0))))
}

func TestRestoreRefusesBadInput(t *testing.T) {
	h, _ := busyHarness(t, 3)
	good := snapshotBytes(t, h.s)

	withSum := func(b []byte) []byte { // recompute the checksum
		b = bytes.Clone(b)
		sum := crc32.Checksum(b[:len(b)-4], castagnoli)
		binary.LittleEndian.PutUint32(b[len(b)-4:], sum)
		return b
	}
	patch := func(off int, v []byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], v)
		return withSum(b)
	}
	le64 := func(v int64) []byte { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"bad magic", patch(0, []byte("etcdsnap"))},
		{"future version", patch(8, []byte{2, 0, 0, 0})},
		{"revision 0", patch(20, le64(0))},
		{"compact revision above revision", patch(28, le64(1<<40))},
		{"trailing data", append(bytes.Clone(good), 0)},
		{"checksum mismatch", append(bytes.Clone(good[:len(good)-4]), 1, 2, 3, 4)},
		{"lease ID 0", patch(44, le64(0))},
	}
	for _, tt := range tests {
		if err := newHarness(t).s.Restore(bytes.NewReader(tt.in)); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: Restore = %v, want %v", tt.name, err, ErrBadSnapshot)
		}
	}
	for n := range len(good) {
		if err := newHarness(t).s.Restore(bytes.NewReader(good[:n])); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("Restore of the first %d of %d bytes = %v, want %v", n, len(good), err, ErrBadSnapshot)
		}
	}
	for i := range len(good) {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if err := newHarness(t).s.Restore(bytes.NewReader(b)); !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("Restore with byte %d flipped = %v, want %v", i, err, ErrBadSnapshot)
		}
	}

	// A failed restore leaves the store as it was.
	s := newHarness(t)
	s.put("keep", "me")
	before := snapshotBytes(t, s.s)
	if err := s.s.Restore(bytes.NewReader(good[:len(good)-1])); err == nil {
		t.Fatal("Restore of a truncated snapshot succeeded")
	}
	if !bytes.Equal(before, snapshotBytes(t, s.s)) {
		t.Error("a failed Restore changed the store")
	}
}

func TestSnapshotReleasedRefusesWrite(t *testing.T) {
	sn := newHarness(t).s.Snapshot()
	sn.Release()
	if err := sn.Write(&bytes.Buffer{}); err == nil {
		t.Error("Write after Release = nil, want an error")
	}
}

// FuzzRestore: any input either restores a store whose snapshot is the
// input again, or fails with ErrBadSnapshot; it never panics. Each input is
// also tried with a valid checksum appended, so that the fuzzer reaches the
// checks behind the checksum.
func FuzzRestore(f *testing.F) {
	h := newHarness(f)
	h.grant(5, 10)
	h.putLease("a", "1", 5)
	h.put("b", "2")
	h.del("b", "")
	h.put("c", "3")
	if err := h.compact(3); err != nil {
		f.Fatal(err)
	}
	for _, b := range [][]byte{snapshotBytes(f, h.s), snapshotBytes(f, newHarness(f).s)} {
		f.Add(b)
		f.Add(b[:len(b)-4]) // without its checksum
	}
	f.Add([]byte("ironkvsn"))
	f.Fuzz(func(t *testing.T, in []byte) {
		summed := binary.LittleEndian.AppendUint32(bytes.Clone(in), crc32.Checksum(in, castagnoli))
		for _, in := range [][]byte{in, summed} {
			s, err := New(Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Restore(bytes.NewReader(in)); err != nil {
				if !errors.Is(err, ErrBadSnapshot) {
					t.Fatalf("Restore = %v, want an error wrapping ErrBadSnapshot", err)
				}
				continue
			}
			// A restored store works and round-trips.
			if _, err := s.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}}); err != nil {
				t.Fatalf("Range after Restore: %v", err)
			}
			if out := snapshotBytes(t, s); !bytes.Equal(in, out) {
				t.Fatalf("snapshot of a restored store differs from its input")
			}
		}
	})
}
