package grpctransport

import (
	"context"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

func snapMsg(from, to uint64, size int, seed uint64) *raftpb.Message {
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return &raftpb.Message{
		Type: raftpb.MsgSnap, From: from, To: to, Term: 3,
		Snapshot: &raftpb.Snapshot{
			Data: data,
			Metadata: &raftpb.SnapshotMetadata{
				Index: 100, Term: 2, ConfState: &raftpb.ConfState{Voters: []uint64{1, 2}},
			},
		},
	}
}

func snapConfig(t *testing.T, id uint64) Config {
	cfg := testConfig(t, id, "")
	cfg.SnapshotChunkBytes = 256 << 10
	return cfg
}

func TestSnapshotStreamedAndDelivered(t *testing.T) {
	// The first chunk waits until a second MsgSnap was refused as busy.
	busyReported := make(chan struct{})
	var first atomic.Bool
	hook := func(tr *Transport) {
		tr.hooks.snapshotChunkSent = func(_ uint64, i int) {
			if i == 0 && first.CompareAndSwap(false, true) {
				<-busyReported
			}
		}
	}
	a := startNode(t, snapConfig(t, 1), nil, hook)
	b := startNode(t, snapConfig(t, 2), nil)
	connect(t, a, b)

	m := snapMsg(1, 2, 3<<20+12345, 1)
	a.tr.Send([]*raftpb.Message{m})
	a.tr.Send([]*raftpb.Message{snapMsg(1, 2, 10, 2)})
	waitFor(t, "the second snapshot reported failed", func() bool { return len(a.rec.snapReports()) == 1 })
	close(busyReported)
	waitFor(t, "the first snapshot reported", func() bool { return len(a.rec.snapReports()) == 2 })

	want := []snapReport{{2, false}, {2, true}}
	if got := a.rec.snapReports(); got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ReportSnapshot calls = %+v, want %+v", got, want)
	}
	got := b.rec.received(ofType(raftpb.MsgSnap, 1))
	if len(got) != 1 {
		t.Fatalf("received %d MsgSnap, want 1", len(got))
	}
	if !proto.Equal(got[0], m) {
		t.Errorf("received MsgSnap differs from the one sent (%d bytes, want %d)", len(got[0].GetSnapshot().GetData()), len(m.GetSnapshot().GetData()))
	}
	if n := a.obs.get(func(o *countingObserver) int { return o.sent[LaneSnapshot][1] }); n < len(m.GetSnapshot().GetData()) {
		t.Errorf("observer counted %d snapshot bytes sent, want at least %d", n, len(m.GetSnapshot().GetData()))
	}
	// The sender is free again.
	a.tr.Send([]*raftpb.Message{snapMsg(1, 2, 0, 3)})
	waitFor(t, "an empty snapshot reported", func() bool { return len(a.rec.snapReports()) == 3 })
	if got := a.rec.snapReports()[2]; got != (snapReport{2, true}) {
		t.Errorf("empty snapshot reported %+v, want {2 true}", got)
	}
}

func TestSnapshotInterruptedMidStreamIsDiscarded(t *testing.T) {
	var cut atomic.Bool
	hook := func(tr *Transport) {
		tr.hooks.snapshotChunkSent = func(peer uint64, i int) {
			if i == 1 && cut.CompareAndSwap(false, true) {
				tr.RemovePeer(peer) // cancels the stream mid-snapshot
			}
		}
	}
	a := startNode(t, snapConfig(t, 1), nil, hook)
	b := startNode(t, snapConfig(t, 2), nil)
	connect(t, a, b)

	a.tr.Send([]*raftpb.Message{snapMsg(1, 2, 2<<20, 1)})
	waitFor(t, "the snapshot reported", func() bool { return len(a.rec.snapReports()) == 1 })
	if got := a.rec.snapReports()[0]; got != (snapReport{2, false}) {
		t.Errorf("ReportSnapshot = %+v, want {2 false}", got)
	}
	waitFor(t, "the receiver to drop the partial snapshot", func() bool { return len(b.tr.inboundSnaps) == 0 })
	if got := b.rec.received(nil); len(got) != 0 {
		t.Fatalf("receiver got %d messages from an interrupted snapshot", len(got))
	}

	// The receiver keeps working.
	connect(t, a, b)
	m := snapMsg(1, 2, 1<<20, 2)
	a.tr.Send([]*raftpb.Message{m})
	waitFor(t, "the second snapshot reported", func() bool { return len(a.rec.snapReports()) == 2 })
	if got := a.rec.snapReports()[1]; got != (snapReport{2, true}) {
		t.Errorf("ReportSnapshot = %+v, want {2 true}", got)
	}
	if got := b.rec.received(ofType(raftpb.MsgSnap, 1)); len(got) != 1 || !proto.Equal(got[0], m) {
		t.Errorf("receiver got %d MsgSnap, want 1 equal to the one sent", len(got))
	}
}

func TestSnapshotRefusedByNodeReportsFailure(t *testing.T) {
	rec := newRecorder()
	rec.receive = func(context.Context, []*raftpb.Message) error { return errors.New("inbox full") }
	a := startNode(t, snapConfig(t, 1), nil)
	b := startNode(t, snapConfig(t, 2), rec)
	connect(t, a, b)
	a.tr.Send([]*raftpb.Message{snapMsg(1, 2, 1000, 1)})
	waitFor(t, "the snapshot reported", func() bool { return len(a.rec.snapReports()) == 1 })
	if got := a.rec.snapReports()[0]; got != (snapReport{2, false}) {
		t.Errorf("ReportSnapshot = %+v, want {2 false}", got)
	}
}

func TestSnapshotBadStreamsRejected(t *testing.T) {
	cfg := snapConfig(t, 2)
	cfg.MaxSnapshotBytes = 1 << 20
	b := startNode(t, cfg, nil)
	client := dialRaw(t, b.tr.Addr())

	hs := func() *Handshake {
		return &Handshake{ProtocolVersion: ProtocolVersion, ClusterId: 7, From: 1, To: 2, Lane: WireLane_WIRE_LANE_SNAPSHOT}
	}
	data := []byte("the state machine image")
	good := func() *SnapshotHeader {
		m := snapMsg(1, 2, 0, 1)
		m.Snapshot.Data = nil
		return &SnapshotHeader{Handshake: hs(), Message: m, SizeBytes: uint64(len(data)), Crc32C: crc32.Checksum(data, castagnoli)}
	}
	chunk := func(d []byte) *SnapshotChunk { return &SnapshotChunk{Data: d, Crc32C: crc32.Checksum(d, castagnoli)} }
	header := func(edit func(h *SnapshotHeader)) *SnapshotChunk {
		h := good()
		edit(h)
		return &SnapshotChunk{Header: h}
	}
	for _, tc := range []struct {
		name   string
		chunks []*SnapshotChunk
		want   codes.Code
	}{
		{"chunk checksum", []*SnapshotChunk{header(func(*SnapshotHeader) {}), {Data: data, Crc32C: 1}}, codes.DataLoss},
		{"whole checksum", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Crc32C++ }), chunk(data)}, codes.DataLoss},
		{"truncated", []*SnapshotChunk{header(func(*SnapshotHeader) {}), chunk(data[:5])}, codes.DataLoss},
		{"too much data", []*SnapshotChunk{header(func(*SnapshotHeader) {}), chunk(data), chunk(data)}, codes.DataLoss},
		{"over the size limit", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.SizeBytes = 1<<20 + 1 })}, codes.ResourceExhausted},
		{"not MsgSnap", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Message.Type = raftpb.MsgApp })}, codes.InvalidArgument},
		{"spoofed sender", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Message.From = 3 })}, codes.InvalidArgument},
		{"data in header", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Message.Snapshot.Data = data })}, codes.InvalidArgument},
		{"no metadata", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Message.Snapshot = nil })}, codes.InvalidArgument},
		{"wrong cluster", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Handshake.ClusterId = 8 })}, codes.FailedPrecondition},
		{"wrong lane", []*SnapshotChunk{header(func(h *SnapshotHeader) { h.Handshake.Lane = WireLane_WIRE_LANE_DATA })}, codes.InvalidArgument},
		{"no header", []*SnapshotChunk{chunk(data)}, codes.InvalidArgument},
		{"header repeated", []*SnapshotChunk{header(func(*SnapshotHeader) {}), header(func(*SnapshotHeader) {})}, codes.InvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := client.Snapshot(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range tc.chunks {
				if err := s.Send(c); err != nil {
					break // the server ended the RPC; CloseAndRecv says why
				}
			}
			_, err = s.CloseAndRecv()
			if got := status.Code(err); got != tc.want {
				t.Errorf("CloseAndRecv() = %v, want code %v", err, tc.want)
			}
		})
	}
	if got := b.rec.received(nil); len(got) != 0 {
		t.Errorf("receiver got %d messages from bad snapshot streams", len(got))
	}

	// A good one still passes.
	s, err := client.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*SnapshotChunk{{Header: good()}, chunk(data[:5]), chunk(data[5:])} {
		if err := s.Send(c); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if _, err := s.CloseAndRecv(); err != nil {
		t.Fatalf("good snapshot: CloseAndRecv() = %v", err)
	}
	got := b.rec.received(nil)
	if len(got) != 1 || string(got[0].GetSnapshot().GetData()) != string(data) {
		t.Errorf("receiver got %v, want the good snapshot", got)
	}
}

// FuzzSnapshotChunks feeds a decoded header and two decoded chunks to the
// assembler: whatever it accepts is a MsgSnap to node 2 whose data has the
// announced size and checksum.
func FuzzSnapshotChunks(f *testing.F) {
	data := []byte("the state machine image")
	m := snapMsg(1, 2, 0, 1)
	m.Snapshot.Data = nil
	hdr, _ := proto.Marshal(&SnapshotChunk{Header: &SnapshotHeader{
		Handshake: &Handshake{From: 1}, Message: m, SizeBytes: uint64(len(data)), Crc32C: crc32.Checksum(data, castagnoli),
	}})
	c1, _ := proto.Marshal(&SnapshotChunk{Data: data[:4], Crc32C: crc32.Checksum(data[:4], castagnoli)})
	c2, _ := proto.Marshal(&SnapshotChunk{Data: data[4:], Crc32C: crc32.Checksum(data[4:], castagnoli)})
	f.Add(hdr, c1, c2)
	f.Add(hdr, c2, c1)
	f.Add(hdr, []byte{}, []byte{0xff})
	f.Fuzz(func(t *testing.T, hdr, c1, c2 []byte) {
		var first SnapshotChunk
		if proto.Unmarshal(hdr, &first) != nil {
			return
		}
		a, err := newSnapshotAssembler(first.GetHeader(), 2, 1<<10, 64)
		if err != nil {
			return
		}
		for _, b := range [][]byte{c1, c2} {
			var c SnapshotChunk
			if proto.Unmarshal(b, &c) != nil {
				return
			}
			if a.add(&c) != nil {
				return
			}
		}
		got, err := a.finish()
		if err != nil {
			return
		}
		h := first.GetHeader()
		d := got.GetSnapshot().GetData()
		if got.GetType() != raftpb.MsgSnap || got.GetTo() != 2 || got.GetFrom() != h.GetHandshake().GetFrom() ||
			uint64(len(d)) != h.GetSizeBytes() || len(d) > 1<<10 || crc32.Checksum(d, castagnoli) != h.GetCrc32C() {
			t.Fatalf("assembler accepted %v with %d bytes of data for header %v", got, len(d), h)
		}
	})
}

// FuzzSnapshotCorruption checks that a flipped bit in any chunk is caught.
func FuzzSnapshotCorruption(f *testing.F) {
	f.Add([]byte("the state machine image"), uint16(5), uint32(3), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, chunkSize uint16, at uint32, bit uint8) {
		if len(data) == 0 {
			return
		}
		size := max(int(chunkSize), 1)
		m := snapMsg(1, 2, 0, 1)
		m.Snapshot.Data = nil
		a, err := newSnapshotAssembler(&SnapshotHeader{
			Handshake: &Handshake{From: 1}, Message: m,
			SizeBytes: uint64(len(data)), Crc32C: crc32.Checksum(data, castagnoli),
		}, 2, 1<<20, 1<<10)
		if err != nil {
			t.Fatal(err)
		}
		flip := int(at % uint32(len(data)))
		for off := 0; off < len(data); off += size {
			chunk := append([]byte(nil), data[off:min(off+size, len(data))]...)
			sum := crc32.Checksum(chunk, castagnoli)
			if off <= flip && flip < off+len(chunk) {
				chunk[flip-off] ^= 1 << (bit % 8)
			}
			err := a.add(&SnapshotChunk{Data: chunk, Crc32C: sum})
			if off <= flip && flip < off+len(chunk) {
				if status.Code(err) != codes.DataLoss {
					t.Fatalf("add(corrupt chunk at %d) = %v, want DataLoss", off, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("add(chunk at %d) = %v", off, err)
			}
		}
		t.Fatalf("the corrupt chunk was never sent")
	})
}
