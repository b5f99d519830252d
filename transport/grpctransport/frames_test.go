package grpctransport

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

func TestBadFramesCloseTheStreamOnly(t *testing.T) {
	cfg := testConfig(t, 2, "")
	cfg.MaxFrameBytes = 64 << 10
	cfg.MaxBatchBytes = 32 << 10
	cfg.SnapshotChunkBytes = 16 << 10
	b := startNode(t, cfg, nil)
	a := newNode(t, 1)
	connect(t, a, b)
	client := dialRaw(t, b.tr.Addr())

	const rogue = 5 // the raw client's node ID
	hs := &Frame{Handshake: &Handshake{ProtocolVersion: ProtocolVersion, ClusterId: 7, From: rogue, To: 2, Lane: WireLane_WIRE_LANE_DATA}}
	// batch returns a frame of a good heartbeat followed by bad: nothing
	// of it may be delivered.
	batch := func(bad *raftpb.Message) *Frame {
		return &Frame{Messages: []*raftpb.Message{heartbeat(rogue, 2, 1), bad}}
	}
	for _, tc := range []struct {
		name      string
		handshake bool // send the handshake first
		frame     any  // a *Frame or raw []byte
		want      codes.Code
	}{
		{"spoofed sender", true, batch(heartbeat(1, 2, 2)), codes.InvalidArgument},
		{"wrong receiver", true, batch(heartbeat(rogue, 3, 2)), codes.InvalidArgument},
		{"local type", true, batch(&raftpb.Message{Type: raftpb.MsgHup, From: rogue, To: 2}), codes.InvalidArgument},
		{"unknown type", true, batch(&raftpb.Message{Type: 99, From: rogue, To: 2}), codes.InvalidArgument},
		{"snapshot on a lane", true, batch(snapMsg(rogue, 2, 10, 1)), codes.InvalidArgument},
		{"handshake repeated", true, hs, codes.InvalidArgument},
		{"no handshake", false, batch(heartbeat(rogue, 2, 2)), codes.InvalidArgument},
		{"does not decode", true, []byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f}, codes.Internal},
		{"oversized", true, make([]byte, 100<<10), codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s, err := client.Stream(ctx, grpc.ForceCodec(rawCodec{}))
			if err != nil {
				t.Fatal(err)
			}
			if tc.handshake {
				if err := s.SendMsg(hs); err != nil {
					t.Fatalf("send handshake: %v", err)
				}
				if _, err := s.Recv(); err != nil {
					t.Fatalf("handshake refused: %v", err)
				}
			}
			if err := s.SendMsg(tc.frame); err != nil {
				t.Fatalf("send frame: %v", err)
			}
			_, err = s.Recv()
			if got := status.Code(err); got != tc.want {
				t.Errorf("Recv() after a bad frame = %v, want code %v", err, tc.want)
			}
		})
	}
	if got := b.rec.received(nil); len(got) != 0 {
		t.Errorf("receiver delivered %d messages from bad frames", len(got))
	}
	if !b.logs.hasLine("level=WARN", "refused a stream", "from 1 to 2 on a stream from 5 to 2") {
		t.Errorf("no warning logged for the spoofed sender")
	}
	// Well-behaved peers are still served.
	sendUntil(t, a, 2, "delivery from a good peer", func() bool { return len(b.rec.received(nil)) > 0 })
}

func TestCheckFrame(t *testing.T) {
	good := heartbeat(1, 2, 1)
	for _, tc := range []struct {
		name string
		f    *Frame
		ok   bool
	}{
		{"empty", &Frame{}, true},
		{"ping only", &Frame{Ping: 3}, true},
		{"good batch", &Frame{Messages: []*raftpb.Message{good, app(1, 2, 1)}}, true},
		{"forwarded proposal", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgProp, From: 1, To: 2}}}, true},
		{"nil message", &Frame{Messages: []*raftpb.Message{good, nil}}, false},
		{"spoofed", &Frame{Messages: []*raftpb.Message{heartbeat(3, 2, 1)}}, false},
		{"misaddressed", &Frame{Messages: []*raftpb.Message{heartbeat(1, 3, 1)}}, false},
		{"MsgBeat", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgBeat, From: 1, To: 2}}}, false},
		{"MsgUnreachable", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgUnreachable, From: 1, To: 2}}}, false},
		{"MsgSnapStatus", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgSnapStatus, From: 1, To: 2}}}, false},
		{"MsgCheckQuorum", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgCheckQuorum, From: 1, To: 2}}}, false},
		{"MsgSnap", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgSnap, From: 1, To: 2}}}, false},
		{"snapshot on MsgApp", &Frame{Messages: []*raftpb.Message{{Type: raftpb.MsgApp, From: 1, To: 2, Snapshot: &raftpb.Snapshot{}}}}, false},
		{"handshake", &Frame{Handshake: &Handshake{}}, false},
	} {
		err := checkFrame(tc.f, 1, 2)
		if (err == nil) != tc.ok {
			t.Errorf("%s: checkFrame(%v) = %v, want ok=%t", tc.name, tc.f, err, tc.ok)
		}
	}
}

func TestCheckHandshake(t *testing.T) {
	good := func() *Handshake {
		return &Handshake{ProtocolVersion: ProtocolVersion, ClusterId: 7, From: 1, To: 2, Lane: WireLane_WIRE_LANE_CONTROL}
	}
	for _, tc := range []struct {
		name string
		edit func(*Handshake)
		want codes.Code
	}{
		{"good", func(*Handshake) {}, codes.OK},
		{"version", func(h *Handshake) { h.ProtocolVersion = 2 }, codes.FailedPrecondition},
		{"cluster", func(h *Handshake) { h.ClusterId = 8 }, codes.FailedPrecondition},
		{"receiver", func(h *Handshake) { h.To = 3 }, codes.FailedPrecondition},
		{"sender zero", func(h *Handshake) { h.From = 0 }, codes.FailedPrecondition},
		{"sender is receiver", func(h *Handshake) { h.From = 2 }, codes.FailedPrecondition},
		{"snapshot lane", func(h *Handshake) { h.Lane = WireLane_WIRE_LANE_SNAPSHOT }, codes.InvalidArgument},
		{"no lane", func(h *Handshake) { h.Lane = 0 }, codes.InvalidArgument},
	} {
		h := good()
		tc.edit(h)
		err := checkHandshake(h, 7, 2, LaneControl, LaneData)
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: checkHandshake(%v) = %v, want code %v", tc.name, h, err, tc.want)
		}
	}
	if got := status.Code(checkHandshake(nil, 7, 2, LaneData)); got != codes.InvalidArgument {
		t.Errorf("checkHandshake(nil) code = %v, want InvalidArgument", got)
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range []*Frame{
		{Handshake: &Handshake{ProtocolVersion: ProtocolVersion, ClusterId: 7, From: 1, To: 2, Lane: WireLane_WIRE_LANE_DATA}},
		{Messages: []*raftpb.Message{heartbeat(1, 2, 1), app(1, 2, 7)}, Ping: 4},
		{Messages: []*raftpb.Message{{Type: raftpb.MsgHup, From: 1, To: 2}}},
		{Messages: []*raftpb.Message{snapMsg(1, 2, 5, 1)}},
	} {
		b, err := proto.Marshal(fr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fr Frame
		if err := proto.Unmarshal(b, &fr); err != nil {
			return
		}
		if hs := fr.GetHandshake(); hs != nil && checkHandshake(hs, 7, 2, LaneControl, LaneData) == nil {
			if hs.GetClusterId() != 7 || hs.GetTo() != 2 || hs.GetFrom() == 2 || hs.GetFrom() == 0 {
				t.Fatalf("checkHandshake accepted %v", hs)
			}
		}
		if err := checkFrame(&fr, 1, 2); err != nil {
			return
		}
		if fr.GetHandshake() != nil {
			t.Fatalf("checkFrame accepted a frame with a handshake")
		}
		for _, m := range fr.GetMessages() {
			_, known := raftpb.MessageType_name[int32(m.GetType())]
			if m.GetFrom() != 1 || m.GetTo() != 2 || raftpb.IsLocalMsg(m.GetType()) ||
				m.GetType() == raftpb.MsgSnap || m.GetSnapshot() != nil || !known {
				t.Fatalf("checkFrame accepted %v", m)
			}
		}
	})
}
