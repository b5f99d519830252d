package node

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/transport/memtransport"
)

type nopSM struct{}

func (nopSM) Apply(cmds []Command) []any      { return make([]any, len(cmds)) }
func (nopSM) Snapshot() (SnapshotView, error) { return nopView{}, nil }
func (nopSM) Restore(io.Reader) error         { return nil }

type nopView struct{}

func (nopView) Write(io.Writer) error { return nil }
func (nopView) Release()              {}

// TestRequestAfterRaftLoopPauseSeesItsTicks pauses the raft loop (as a GC
// pause or SIGSTOP would) with a request waiting behind the pause, and
// checks that the ticks of the pause reach the core before that request
// runs: a lease read served first would use a clock that stopped during
// the pause (raft.ReadOnlyLeaseBased).
func TestRequestAfterRaftLoopPauseSeesItsTicks(t *testing.T) {
	net := memtransport.NewNetwork(memtransport.Options{Seed: 1})
	defer net.Close()
	const tick = 5 * time.Millisecond
	n, err := Bootstrap(Config{ID: 1, ClusterID: 1, DataDir: t.TempDir(), Transport: net.Transport(1),
		StateMachine: nopSM{}, TickInterval: tick, ElectionTicks: 20, HeartbeatTicks: 1},
		[]Member{{ID: 1, Addr: "mem-1"}})
	if err != nil {
		t.Fatalf("Bootstrap = %v", err)
	}
	defer n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const pauseTicks = 10
	for i := range 10 {
		var before, after int64
		paused := make(chan struct{})
		pause := make(chan error, 1)
		go func() {
			pause <- n.run(ctx, func(*raft.RawNode) {
				before = n.rs.ticks
				close(paused)
				// The pause: nothing on the raft loop runs meanwhile.
				time.Sleep(pauseTicks * tick)
			})
		}()
		<-paused
		// This request waits behind the pause (reqc is unbuffered).
		if err := n.run(ctx, func(*raft.RawNode) { after = n.rs.ticks }); err != nil {
			t.Fatalf("run = %v", err)
		}
		if err := <-pause; err != nil {
			t.Fatalf("run (pause) = %v", err)
		}
		if got := after - before; got < pauseTicks-1 {
			t.Fatalf("round %d: ticks delivered before the request after a pause of %d ticks = %d, want >= %d",
				i, pauseTicks, got, pauseTicks-1)
		}
	}
}
