package memtransport

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/transport"
)

func TestSendDeliversInOrderPerLink(t *testing.T) {
	c := newCluster(t, Options{MaxBatch: 16}, 1, 2, 3)
	const n = 500
	var wg sync.WaitGroup
	for _, from := range []uint64{1, 3} {
		wg.Go(func() {
			tr := c.net.Transport(from)
			for seq := uint64(1); seq <= n; {
				var batch []*raftpb.Message
				for ; seq <= n && len(batch) < 7; seq++ {
					batch = append(batch, &raftpb.Message{Type: raftpb.MsgApp, From: from, To: 2, Commit: seq})
				}
				tr.Send(batch)
			}
		})
	}
	wg.Wait()
	r := c.rec[2]
	c.waitFor("all messages at node 2, counted", func() bool {
		st := c.net.Stats()
		return len(r.got) == 2*n && st[Link{1, 2}].Delivered == n && st[Link{3, 2}].Delivered == n
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, from := range []uint64{1, 3} {
		if diff := cmp.Diff(seqRange(1, n), r.seqsFrom(from)); diff != "" {
			t.Errorf("sequence from node %d (-want +got):\n%s", from, diff)
		}
	}
	if r.maxBatch > 16 {
		t.Errorf("largest Receive batch = %d, want <= MaxBatch 16", r.maxBatch)
	}
	want := map[Link]LinkStats{{1, 2}: {Sent: n, Delivered: n}, {3, 2}: {Sent: n, Delivered: n}}
	if diff := cmp.Diff(want, c.net.Stats()); diff != "" {
		t.Errorf("Stats() (-want +got):\n%s", diff)
	}
}

func TestSendClonesMessages(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	sent := &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Term: 3,
		Entries: []*raftpb.Entry{{Index: 1, Term: 3, Data: []byte("x")}}}
	c.net.Transport(1).Send([]*raftpb.Message{sent})
	r := c.rec[2]
	c.waitFor("the message at node 2", func() bool { return len(r.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	got := r.got[0]
	if diff := cmp.Diff(sent, got, protocmp.Transform()); diff != "" {
		t.Errorf("received message (-sent +got):\n%s", diff)
	}
	if got == sent || got.Entries[0] == sent.Entries[0] || &got.Entries[0].Data[0] == &sent.Entries[0].Data[0] {
		t.Errorf("received message shares memory with the sent one")
	}
}

func TestPartitionDropsAcrossGroupsUntilHeal(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2, 3)
	c.net.Partition([]uint64{1}) // node 1 alone; 2 and 3 form the other group
	c.send(raftpb.MsgApp, 1, 2, 1)
	c.send(raftpb.MsgApp, 2, 1, 1)
	c.send(raftpb.MsgApp, 2, 3, 1)
	r1, r2, r3 := c.rec[1], c.rec[2], c.rec[3]
	c.waitFor("delivery within a group and unreachable reports across", func() bool {
		return len(r3.got) == 1 && r1.unreachable[2] > 0 && r2.unreachable[1] > 0
	})
	c.net.Heal()
	c.send(raftpb.MsgApp, 1, 2, 2)
	c.send(raftpb.MsgApp, 2, 1, 2)
	c.waitFor("delivery after Heal", func() bool { return len(r1.got) == 1 && len(r2.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := r2.seqsFrom(1); !slices.Equal(got, []uint64{2}) {
		t.Errorf("node 2 got %v from node 1, want [2]", got)
	}
	if got := r1.seqsFrom(2); !slices.Equal(got, []uint64{2}) {
		t.Errorf("node 1 got %v from node 2, want [2]", got)
	}
}

func TestIsolateCutsNodeBothWaysUntilRejoin(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2, 3)
	c.net.Isolate(3)
	c.send(raftpb.MsgApp, 1, 3, 1)
	c.send(raftpb.MsgApp, 3, 1, 1)
	c.send(raftpb.MsgApp, 1, 2, 1)
	r1, r2, r3 := c.rec[1], c.rec[2], c.rec[3]
	c.waitFor("unreachable reports to and from node 3", func() bool {
		return len(r2.got) == 1 && r1.unreachable[3] > 0 && r3.unreachable[1] > 0
	})
	c.net.Rejoin(3)
	c.send(raftpb.MsgApp, 1, 3, 2)
	c.waitFor("delivery after Rejoin", func() bool { return len(r3.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := r3.seqsFrom(1); !slices.Equal(got, []uint64{2}) {
		t.Errorf("node 3 got %v from node 1, want [2]", got)
	}
	if len(r1.got) != 0 {
		t.Errorf("node 1 got %d messages from isolated node 3, want 0", len(r1.got))
	}
}

func TestCutDropsOneDirectionOnly(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	c.net.Cut(1, 2)
	c.send(raftpb.MsgApp, 1, 2, 1)
	c.send(raftpb.MsgApp, 2, 1, 1)
	r1, r2 := c.rec[1], c.rec[2]
	c.waitFor("2→1 delivered and 1→2 reported unreachable", func() bool {
		return len(r1.got) == 1 && r1.unreachable[2] > 0
	})
	c.net.Restore(1, 2)
	c.send(raftpb.MsgApp, 1, 2, 2)
	c.waitFor("1→2 delivered after Restore", func() bool { return len(r2.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := r2.seqsFrom(1); !slices.Equal(got, []uint64{2}) {
		t.Errorf("node 2 got %v from node 1, want [2]", got)
	}
	if r2.unreachable[1] != 0 {
		t.Errorf("node 2 got %d unreachable reports for node 1, want 0", r2.unreachable[1])
	}
}

func TestDropProbOneDropsSilently(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	c.net.SetFaults(Faults{DropProb: 1})
	for seq := uint64(1); seq <= 10; seq++ {
		c.send(raftpb.MsgApp, 1, 2, seq)
	}
	// Drop decisions are made in Send, so the counters are final already.
	if got, want := c.net.Stats()[Link{1, 2}], (LinkStats{Sent: 10, Dropped: 10}); got != want {
		t.Errorf("Stats()[1→2] = %+v, want %+v", got, want)
	}
	c.net.SetFaults(Faults{})
	c.send(raftpb.MsgApp, 1, 2, 11)
	r1, r2 := c.rec[1], c.rec[2]
	c.waitFor("delivery after the faults are cleared", func() bool { return len(r2.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := r2.seqsFrom(1); !slices.Equal(got, []uint64{11}) {
		t.Errorf("node 2 got %v, want [11]", got)
	}
	if r1.unreachable[2] != 0 {
		t.Errorf("random drops made %d unreachable reports, want 0", r1.unreachable[2])
	}
}

func TestDuplicateProbOneDeliversEachMessageTwice(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	c.net.SetLinkFaults(1, 2, Faults{DuplicateProb: 1})
	for seq := uint64(1); seq <= 10; seq++ {
		c.send(raftpb.MsgApp, 1, 2, seq)
	}
	r := c.rec[2]
	c.waitFor("20 deliveries counted", func() bool { return c.net.Stats()[Link{1, 2}].Delivered == 20 })
	c.mu.Lock()
	defer c.mu.Unlock()
	var want []uint64
	for seq := uint64(1); seq <= 10; seq++ {
		want = append(want, seq, seq)
	}
	if diff := cmp.Diff(want, r.seqsFrom(1)); diff != "" {
		t.Errorf("sequence (-want +got):\n%s", diff)
	}
	if r.got[0] == r.got[1] {
		t.Errorf("a message and its duplicate share memory")
	}
	if got, want := c.net.Stats()[Link{1, 2}], (LinkStats{Sent: 10, Delivered: 20, Duplicated: 10}); got != want {
		t.Errorf("Stats()[1→2] = %+v, want %+v", got, want)
	}
}

func TestDelayHoldsMessagesAtLeastDelay(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	const delay, jitter = 20 * time.Millisecond, 10 * time.Millisecond
	c.net.SetLinkFaults(1, 2, Faults{Delay: delay, Jitter: jitter})
	var sentAt []time.Time
	for seq := uint64(1); seq <= 10; seq++ {
		sentAt = append(sentAt, time.Now())
		c.send(raftpb.MsgApp, 1, 2, seq)
	}
	c.send(raftpb.MsgApp, 2, 1, 1) // the other direction is not delayed
	r1, r2 := c.rec[1], c.rec[2]
	c.waitFor("delayed messages", func() bool { return len(r2.got) == 10 && len(r1.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if diff := cmp.Diff(seqRange(1, 10), r2.seqsFrom(1)); diff != "" {
		t.Errorf("sequence (-want +got):\n%s", diff)
	}
	for i, at := range r2.gotAt {
		if d := at.Sub(sentAt[i]); d < delay {
			t.Errorf("message %d delivered after %v, want >= %v", i+1, d, delay)
		}
	}
}

func TestReorderProbReordersSometimes(t *testing.T) {
	c := newCluster(t, Options{Seed: 7}, 1, 2)
	c.net.SetFaults(Faults{ReorderProb: 0.3})
	const n = 200
	var batch []*raftpb.Message
	for seq := uint64(1); seq <= n; seq++ {
		batch = append(batch, &raftpb.Message{Type: raftpb.MsgApp, From: 1, To: 2, Commit: seq})
	}
	c.net.Transport(1).Send(batch)
	r := c.rec[2]
	c.waitFor("all messages", func() bool { return len(r.got) == n })
	c.mu.Lock()
	defer c.mu.Unlock()
	got := r.seqsFrom(1)
	if slices.IsSorted(got) {
		t.Errorf("ReorderProb 0.3 delivered %d messages in order, want some reordered", n)
	}
	slices.Sort(got)
	if diff := cmp.Diff(seqRange(1, n), got); diff != "" {
		t.Errorf("delivered set (-want +got):\n%s", diff)
	}
}

func TestFullQueueDropsAndReportsUnreachable(t *testing.T) {
	c := newCluster(t, Options{QueueLen: 8}, 1, 2)
	c.net.SetLinkFaults(1, 2, Faults{Delay: time.Hour}) // nothing leaves the queue
	for seq := uint64(1); seq <= 10; seq++ {
		c.send(raftpb.MsgApp, 1, 2, seq)
	}
	c.send(raftpb.MsgSnap, 1, 2, 11)
	if got, want := c.net.Stats()[Link{1, 2}], (LinkStats{Sent: 11, Dropped: 3}); got != want {
		t.Errorf("Stats()[1→2] = %+v, want %+v", got, want)
	}
	r1 := c.rec[1]
	c.waitFor("unreachable and failed snapshot reports", func() bool {
		return r1.unreachable[2] > 0 && len(r1.snaps) == 1
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if diff := cmp.Diff([]snapReport{{2, false}}, r1.snaps); diff != "" {
		t.Errorf("snapshot reports (-want +got):\n%s", diff)
	}
}

func TestSendToUnknownOrStoppedPeerReportsUnreachable(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	tr1 := c.net.Transport(1)
	c.net.Transport(4) // exists, never started
	if err := tr1.AddPeer(4, "n4"); err != nil {
		t.Fatalf("AddPeer(4) = %v, want nil", err)
	}
	c.send(raftpb.MsgApp, 1, 9, 1) // not a peer
	c.send(raftpb.MsgApp, 1, 4, 1) // not started
	tr1.RemovePeer(2)
	c.send(raftpb.MsgApp, 1, 2, 1) // removed
	r1 := c.rec[1]
	c.waitFor("unreachable reports", func() bool {
		return r1.unreachable[9] > 0 && r1.unreachable[4] > 0 && r1.unreachable[2] > 0
	})
}

func TestReceiveErrorDropsAndReportsUnreachable(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	r1, r2 := c.rec[1], c.rec[2]
	c.mu.Lock()
	r2.receiveErr = errors.New("inbox full")
	c.mu.Unlock()
	c.send(raftpb.MsgApp, 1, 2, 1)
	c.waitFor("unreachable report", func() bool { return r1.unreachable[2] > 0 })
	c.waitFor("drop counted", func() bool { return c.net.Stats()[Link{1, 2}].Dropped == 1 })
}

func TestSnapshotReportedExactlyOnce(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2)
	tr1 := c.net.Transport(1)
	r1, r2 := c.rec[1], c.rec[2]
	var want []snapReport
	snap := func(to uint64) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MsgSnap, From: 1, To: to, Term: 2,
			Snapshot: &raftpb.Snapshot{Data: []byte("state"), Metadata: &raftpb.SnapshotMetadata{Index: 5, Term: 2}}}
	}
	// step sends one MsgSnap and waits for the report it must produce.
	step := func(name string, to uint64, ok bool) {
		t.Helper()
		tr1.Send([]*raftpb.Message{snap(to)})
		want = append(want, snapReport{to, ok})
		c.waitFor(name, func() bool { return len(r1.snaps) == len(want) })
	}

	step("delivered", 2, true)
	c.mu.Lock()
	if diff := cmp.Diff(snap(2), r2.got[0], protocmp.Transform()); diff != "" {
		t.Errorf("received MsgSnap (-want +got):\n%s", diff)
	}
	c.mu.Unlock()

	c.net.Cut(1, 2)
	step("cut", 2, false)
	c.net.Heal()

	c.net.SetLinkFaults(1, 2, Faults{DropProb: 1})
	step("random drop", 2, false)
	c.net.ClearLinkFaults(1, 2)

	c.net.SetFilter(func(m *raftpb.Message) bool { return m.GetType() == raftpb.MsgSnap })
	step("filtered", 2, false)
	c.net.SetFilter(nil)

	step("unknown peer", 9, false)

	c.net.SetLinkFaults(1, 2, Faults{DuplicateProb: 1})
	step("duplicated", 2, true)
	c.waitFor("the duplicate", func() bool { return len(r2.got) == 3 })
	c.net.ClearLinkFaults(1, 2)

	c.mu.Lock()
	r2.receiveErr = errors.New("inbox full")
	c.mu.Unlock()
	step("refused by the receiver", 2, false)
	c.mu.Lock()
	r2.receiveErr = nil
	c.mu.Unlock()

	c.net.SetLinkFaults(1, 2, Faults{Delay: time.Hour})
	tr1.Send([]*raftpb.Message{snap(2)})
	tr1.RemovePeer(2)
	want = append(want, snapReport{2, false})
	c.waitFor("removed while queued", func() bool { return len(r1.snaps) == len(want) })
	c.net.ClearLinkFaults(1, 2)

	if err := tr1.AddPeer(2, ""); err != nil {
		t.Fatalf("AddPeer(2) = %v, want nil", err)
	}
	step("delivered after AddPeer", 2, true) // its report comes after any stray one

	c.mu.Lock()
	defer c.mu.Unlock()
	if diff := cmp.Diff(want, r1.snaps); diff != "" {
		t.Errorf("snapshot reports (-want +got):\n%s", diff)
	}
}

func TestFilterDropsMatchingMessages(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2, 3)
	c.net.SetFilter(func(m *raftpb.Message) bool {
		return m.GetType() == raftpb.MsgApp && m.GetTo() == 3
	})
	c.send(raftpb.MsgApp, 1, 3, 1)
	c.send(raftpb.MsgHeartbeat, 1, 3, 2)
	c.send(raftpb.MsgApp, 1, 2, 3)
	r2, r3 := c.rec[2], c.rec[3]
	c.waitFor("unfiltered messages", func() bool { return len(r2.got) == 1 && len(r3.got) == 1 })
	c.mu.Lock()
	defer c.mu.Unlock()
	if got := r3.got[0].GetType(); got != raftpb.MsgHeartbeat {
		t.Errorf("node 3 got %v, want MsgHeartbeat only", got)
	}
	if got := c.net.Stats()[Link{1, 3}].Dropped; got != 1 {
		t.Errorf("Stats()[1→3].Dropped = %d, want 1", got)
	}
}

func TestFaultsChangeConcurrentlyWithTraffic(t *testing.T) {
	ids := []uint64{1, 2, 3}
	c := newCluster(t, Options{Seed: 3, QueueLen: 64}, ids...)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, from := range ids {
		wg.Go(func() {
			tr := c.net.Transport(from)
			for seq := uint64(1); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				var batch []*raftpb.Message
				for _, to := range ids {
					if to != from {
						batch = append(batch, &raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Commit: seq})
					}
				}
				tr.Send(batch)
			}
		})
	}
	faults := []func(){
		func() { c.net.Partition([]uint64{1}, []uint64{2}) },
		func() { c.net.Isolate(2) },
		func() { c.net.Cut(3, 1) },
		func() { c.net.Heal() },
		func() {
			c.net.SetFaults(Faults{DropProb: 0.2, DuplicateProb: 0.2, ReorderProb: 0.2, Jitter: time.Millisecond})
		},
		func() { c.net.SetLinkFaults(1, 2, Faults{Delay: time.Millisecond}) },
		func() { c.net.SetFilter(func(m *raftpb.Message) bool { return m.GetCommit()%5 == 0 }) },
		func() { c.net.SetFaults(Faults{}); c.net.SetFilter(nil); c.net.ClearLinkFaults(1, 2) },
	}
	sent := func() (n uint64) {
		for _, s := range c.net.Stats() {
			n += s.Sent
		}
		return n
	}
	for i := 0; i < 200 || sent() < 5000; i++ {
		faults[i%len(faults)]()
	}
	close(stop)
	wg.Wait()
	c.net.Heal()
	c.waitFor("every queue drained", func() bool { return balanced(c.net.Stats()) })
}

func TestCloseStopsEndpointAndRestartGetsNewOne(t *testing.T) {
	c := newCluster(t, Options{}, 1, 2, 3)
	c.net.SetLinkFaults(3, 1, Faults{Delay: time.Hour}) // in flight when 3 closes
	c.send(raftpb.MsgApp, 3, 1, 1)
	old := c.net.Transport(3)
	if err := old.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}
	if err := old.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := old.Start(c.rec[3]); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if err := old.AddPeer(1, ""); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("AddPeer after Close = %v, want ErrClosed", err)
	}
	old.Send([]*raftpb.Message{{Type: raftpb.MsgApp, From: 3, To: 1}}) // dropped, no panic
	if got := c.net.Stats()[Link{3, 1}]; got.Sent != got.Dropped {
		t.Errorf("Stats()[3→1] = %+v, want every message dropped", got)
	}

	r1 := c.rec[1]
	c.send(raftpb.MsgApp, 1, 3, 1)
	c.waitFor("unreachable report for the closed node", func() bool { return r1.unreachable[3] > 0 })

	tr3 := c.net.Transport(3)
	if tr3 == old {
		t.Fatalf("Transport(3) after Close returned the closed endpoint")
	}
	r3 := c.start(tr3)
	c.send(raftpb.MsgApp, 1, 3, 2)
	c.waitFor("delivery to the restarted node", func() bool { return len(r3.got) == 1 })

	c.net.Close()
	goleak.VerifyNone(t)
	if got := c.net.Transport(3); got.Start(r3) == nil {
		t.Errorf("Start on an endpoint of a closed Network = nil, want ErrClosed")
	}
}

func TestSendBeforeStartPanics(t *testing.T) {
	net := NewNetwork(Options{})
	defer net.Close()
	defer func() {
		if recover() == nil {
			t.Errorf("Send before Start did not panic")
		}
	}()
	net.Transport(1).Send([]*raftpb.Message{{Type: raftpb.MsgApp, From: 1, To: 2}})
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int // problems reported
	}{
		{"zero options", Options{}.Validate(), 0},
		{"negative options", Options{QueueLen: -1, MaxBatch: -1}.Validate(), 2},
		{"zero faults", Faults{}.Validate(), 0},
		{"bad faults", Faults{DropProb: 2, DuplicateProb: -1, ReorderProb: 1.5, Delay: -1, Jitter: -1}.Validate(), 5},
	}
	for _, tt := range tests {
		got := 0
		if tt.err != nil {
			got = len(tt.err.(interface{ Unwrap() []error }).Unwrap())
		}
		if got != tt.want {
			t.Errorf("%s: Validate() = %v (%d problems), want %d problems", tt.name, tt.err, got, tt.want)
		}
	}
}
