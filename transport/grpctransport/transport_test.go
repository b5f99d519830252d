package grpctransport

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/transport"
)

func TestSendDeliversBatchesInOrderPerLane(t *testing.T) {
	nodes := []*testNode{newNode(t, 1), newNode(t, 2), newNode(t, 3)}
	connect(t, nodes...)
	const rounds, perRound = 20, 50
	for r := range rounds {
		for _, a := range nodes {
			var msgs []*raftpb.Message
			for _, b := range nodes {
				if a == b {
					continue
				}
				for i := range perRound {
					seq := uint64(r*perRound + i + 1)
					msgs = append(msgs, app(a.id, b.id, seq), heartbeat(a.id, b.id, seq))
				}
			}
			a.tr.Send(msgs)
		}
	}
	const want = rounds * perRound
	for _, b := range nodes {
		for _, a := range nodes {
			if a == b {
				continue
			}
			waitFor(t, "all messages delivered", func() bool {
				return len(b.rec.received(ofType(raftpb.MsgApp, a.id))) == want &&
					len(b.rec.received(ofType(raftpb.MsgHeartbeat, a.id))) == want
			})
			for i, m := range b.rec.received(ofType(raftpb.MsgApp, a.id)) {
				if got := m.GetEntries()[0].GetIndex(); got != uint64(i+1) {
					t.Fatalf("node %d: MsgApp %d from %d has index %d, want %d", b.id, i, a.id, got, i+1)
				}
			}
			for i, m := range b.rec.received(ofType(raftpb.MsgHeartbeat, a.id)) {
				if got := m.GetHeartbeatSeq(); got != uint64(i+1) {
					t.Fatalf("node %d: heartbeat %d from %d has seq %d, want %d", b.id, i, a.id, got, i+1)
				}
			}
		}
	}
	a := nodes[0]
	if got := a.obs.get(func(o *countingObserver) int { return o.sent[LaneData][0] }); got != 2*want {
		t.Errorf("observer counted %d data messages sent by node 1, want %d", got, 2*want)
	}
}

func TestControlLaneNotBlockedByDataBacklog(t *testing.T) {
	release := make(chan struct{})
	blocked := make(chan struct{}, 1) // one token: Receive is holding a MsgApp
	rec := newRecorder()
	rec.receive = func(ctx context.Context, msgs []*raftpb.Message) error {
		if msgs[0].GetType() != raftpb.MsgApp {
			return nil
		}
		select {
		case blocked <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	a := newNode(t, 1)
	b := startNode(t, testConfig(t, 2, ""), rec)
	t.Cleanup(func() { close(release) }) // runs before the nodes close
	connect(t, a, b)

	a.tr.Send([]*raftpb.Message{app(1, 2, 1)})
	<-blocked
	// A backlog of large appends behind the blocked one.
	big := make([]byte, 256<<10)
	for i := range 64 {
		m := app(1, 2, uint64(i+2))
		m.Entries[0].Data = big
		a.tr.Send([]*raftpb.Message{m})
	}
	a.tr.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	waitFor(t, "the heartbeat to pass the blocked data lane", func() bool {
		return len(b.rec.received(ofType(raftpb.MsgHeartbeat, 1))) == 1
	})
	if n := len(b.rec.received(ofType(raftpb.MsgApp, 1))); n != 0 {
		t.Errorf("%d appends delivered while the data lane was blocked, want 0", n)
	}
}

func TestReconnectAfterPeerRestartsOnSameAddress(t *testing.T) {
	a := newNode(t, 1)
	bcfg := testConfig(t, 2, "")
	addr := bcfg.Listener.Addr().String()
	b := startNode(t, bcfg, nil)
	connect(t, a, b)
	sendUntil(t, a, 2, "first delivery", func() bool { return len(b.rec.received(nil)) > 0 })

	if err := b.tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	sendUntil(t, a, 2, "ReportUnreachable(2)", func() bool { return a.rec.unreachableCount(2) > 0 })

	b2 := startNode(t, testConfig(t, 2, addr), nil)
	sendUntil(t, a, 2, "delivery to the restarted peer", func() bool { return len(b2.rec.received(nil)) > 0 })

	// The peer moves: AddPeer with its new address.
	if err := b2.tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b3 := newNode(t, 2)
	if err := a.tr.AddPeer(2, b3.tr.Addr()); err != nil {
		t.Fatalf("AddPeer: %v", err)
	}
	sendUntil(t, a, 2, "delivery to the moved peer", func() bool { return len(b3.rec.received(nil)) > 0 })
}

// sendUntil sends heartbeats from a to peer until cond holds.
func sendUntil(t *testing.T, a *testNode, peer uint64, what string, cond func() bool) {
	t.Helper()
	seq := uint64(0)
	waitFor(t, what, func() bool {
		seq++
		a.tr.Send([]*raftpb.Message{heartbeat(a.id, peer, seq)})
		return cond()
	})
}

func TestFullQueueDropsAndReportsUnreachable(t *testing.T) {
	// A peer that accepts TCP connections but never speaks: the lane stays
	// connecting, so its queue fills.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cfg := testConfig(t, 1, "")
	cfg.MaxQueuedDataMessages = 4
	cfg.DialTimeout = time.Minute
	a := startNode(t, cfg, nil)
	if err := a.tr.AddPeer(2, silent.Addr().String()); err != nil {
		t.Fatal(err)
	}
	var msgs []*raftpb.Message
	for i := range 10 {
		msgs = append(msgs, app(1, 2, uint64(i+1)))
	}
	a.tr.Send(msgs)
	waitFor(t, "ReportUnreachable(2)", func() bool { return a.rec.unreachableCount(2) > 0 })
	if got := a.obs.get(func(o *countingObserver) int { return o.dropped[2] }); got != 6 {
		t.Errorf("OnDropped counted %d messages, want 6", got)
	}
}

func TestSendToUnknownPeerReports(t *testing.T) {
	a := newNode(t, 1)
	snap := &raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: 9, Term: 1, Snapshot: &raftpb.Snapshot{Data: []byte("x")}}
	a.tr.Send([]*raftpb.Message{app(1, 9, 1), snap})
	waitFor(t, "reports for the unknown peer", func() bool {
		return a.rec.unreachableCount(9) > 0 && len(a.rec.snapReports()) == 1
	})
	if got := a.rec.snapReports()[0]; got != (snapReport{9, false}) {
		t.Errorf("ReportSnapshot = %+v, want {9 false}", got)
	}
}

func TestSendDropsMessagesNoPeerAccepts(t *testing.T) {
	a, b := newNode(t, 1), newNode(t, 2)
	connect(t, a, b)
	a.tr.Send([]*raftpb.Message{
		{Type: raftpb.MsgHup, From: 1, To: 2},
		{Type: raftpb.MsgHeartbeat, From: 3, To: 2}, // not from this node
	})
	sendUntil(t, a, 2, "a good heartbeat", func() bool { return len(b.rec.received(nil)) > 0 })
	for _, m := range b.rec.received(nil) {
		if m.GetType() != raftpb.MsgHeartbeat || m.GetFrom() != 1 {
			t.Errorf("delivered %v from %d, want only heartbeats from 1", m.GetType(), m.GetFrom())
		}
	}
	if !a.logs.hasLine("level=ERROR", "no peer would accept") {
		t.Errorf("no error logged for the dropped messages")
	}
}

func TestHandshakeMismatchRefused(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cluster  uint64 // the sender's cluster
		claimsID uint64 // the ID the sender gives the receiver (node 2)
		want     string
	}{
		{"wrong cluster", 8, 2, "cluster ID 8, want 7"},
		{"wrong node", 7, 3, "addressed to node 3, this is node 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, 1, "")
			cfg.ClusterID = tc.cluster
			a := startNode(t, cfg, nil)
			b := newNode(t, 2)
			if err := a.tr.AddPeer(tc.claimsID, b.tr.Addr()); err != nil {
				t.Fatal(err)
			}
			sendUntil(t, a, tc.claimsID, "the sender to log the refusal", func() bool {
				return a.logs.hasLine("level=ERROR", "refused the handshake", tc.want)
			})
			waitFor(t, "the receiver to log the refusal", func() bool {
				return b.logs.hasLine("level=WARN", "refused a stream", tc.want)
			})
			waitFor(t, "ReportUnreachable", func() bool { return a.rec.unreachableCount(tc.claimsID) > 0 })
			if got := b.rec.received(nil); len(got) != 0 {
				t.Errorf("receiver got %d messages across a refused handshake", len(got))
			}
		})
	}
}

func TestRTTMeasuredOnControlLane(t *testing.T) {
	cfg := testConfig(t, 1, "")
	cfg.PingInterval = 10 * time.Millisecond
	a := startNode(t, cfg, nil)
	b := newNode(t, 2)
	connect(t, a, b)
	a.tr.Send([]*raftpb.Message{heartbeat(1, 2, 1)})
	waitFor(t, "three RTT samples", func() bool {
		return a.obs.get(func(o *countingObserver) int { return o.rtts }) >= 3
	})
}

func TestAddRemovePeerConcurrentWithSend(t *testing.T) {
	a, b := newNode(t, 1), newNode(t, 2)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for i := uint64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			a.tr.Send([]*raftpb.Message{app(1, 2, i), heartbeat(1, 2, i)})
		}
	})
	for range 20 {
		if err := a.tr.AddPeer(2, b.tr.Addr()); err != nil {
			t.Fatal(err)
		}
		a.tr.RemovePeer(2)
	}
	if err := a.tr.AddPeer(2, b.tr.Addr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after the churn", func() bool { return len(b.rec.received(nil)) > 0 })
	close(stop)
	wg.Wait()
}

func TestLifecycleErrors(t *testing.T) {
	cfg := testConfig(t, 1, "")
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.AddPeer(1, "127.0.0.1:1"); err == nil {
		t.Errorf("AddPeer(self) = nil, want an error")
	}
	if err := tr.AddPeer(2, "127.0.0.1:1"); err != nil {
		t.Errorf("AddPeer before Start = %v, want nil", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("Close before Start = %v", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := tr.Start(newRecorder()); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if err := tr.AddPeer(3, "127.0.0.1:1"); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("AddPeer after Close = %v, want ErrClosed", err)
	}
	tr.Send([]*raftpb.Message{app(1, 2, 1)}) // dropped, no panic
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	err := Config{
		MaxBatchBytes:  8 << 20,
		MaxFrameBytes:  4 << 20,
		BackoffInitial: time.Minute,
		BackoffJitter:  2,
		ServerTLS:      &tls.Config{},
	}.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{
		"NodeID is 0", "ClusterID is 0", "Listener is nil",
		"MaxBatchBytes 8388608 exceeds MaxFrameBytes 4194304",
		"BackoffInitial 1m0s exceeds BackoffMax 5s",
		"BackoffJitter 2 is outside [0, 1]",
		"ServerTLS set=true but ClientTLS set=false",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, want it to contain %q", err, want)
		}
	}
	cfg := testConfig(t, 1, "")
	defer cfg.Listener.Close()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(test config) = %v, want nil", err)
	}
}

func TestQueuedMessagesGoInOneFrame(t *testing.T) {
	// Node 2 exists but does not serve yet: node 1's lane stays
	// connecting and queues everything, then writes it in one frame.
	bcfg := testConfig(t, 2, "")
	b, err := New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a := newNode(t, 1)
	if err := a.tr.AddPeer(2, b.Addr()); err != nil {
		t.Fatal(err)
	}
	var msgs []*raftpb.Message
	for i := range 10 {
		msgs = append(msgs, app(1, 2, uint64(i+1)))
	}
	a.tr.Send(msgs)
	rec := newRecorder()
	if err := b.Start(rec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return len(rec.received(nil)) == 10 })
	if got := a.obs.get(func(o *countingObserver) int { return o.frames[LaneData] }); got != 1 {
		t.Errorf("10 queued messages took %d frames, want 1", got)
	}
}
