package node

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/transport/memtransport"
)

// countingSM counts the views it hands out and the views released; its
// views write slowly, one byte a millisecond, until the writer fails.
type countingSM struct {
	nopSM
	mu              sync.Mutex
	taken, released int
}

func (s *countingSM) Snapshot() (SnapshotView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.taken++
	return &slowView{sm: s}, nil
}

func (s *countingSM) counts() (taken, released int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.taken, s.released
}

type slowView struct{ sm *countingSM }

func (v *slowView) Write(w io.Writer) error {
	for {
		if _, err := w.Write([]byte{0}); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

func (v *slowView) Release() {
	v.sm.mu.Lock()
	defer v.sm.mu.Unlock()
	v.sm.released++
}

// TestStopReleasesQueuedSnapshotView stops a node while one snapshot view
// is being written and another waits for the snapshot loop: both must be
// released (StateMachine.Snapshot's view may hold a read transaction).
func TestStopReleasesQueuedSnapshotView(t *testing.T) {
	net := memtransport.NewNetwork(memtransport.Options{Seed: 1})
	defer net.Close()
	sm := &countingSM{}
	n, err := Bootstrap(Config{ID: 1, ClusterID: 1, DataDir: t.TempDir(), Transport: net.Transport(1),
		StateMachine: sm, TickInterval: 5 * time.Millisecond, SnapshotEntries: 1},
		[]Member{{ID: 1, Addr: "mem-1"}})
	if err != nil {
		t.Fatalf("Bootstrap = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if taken, _ := sm.counts(); taken >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for two snapshots to be taken")
		}
		if _, err := n.Propose(ctx, []byte("x")); err != nil {
			t.Fatalf("Propose = %v", err)
		}
	}
	if err := n.Stop(); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if taken, released := sm.counts(); released != taken {
		t.Fatalf("after Stop: %d snapshot views taken, %d released", taken, released)
	}
}
