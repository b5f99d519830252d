package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/transport"
	"github.com/ironraft/ironraft/transport/memtransport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memCluster returns a cluster over one memtransport network.
func memCluster(t *testing.T) (*cluster, *memtransport.Network) {
	net := memtransport.NewNetwork(memtransport.Options{Seed: 1})
	c := &cluster{t: t, clusterID: 7, members: map[uint64]*member{},
		newTransport: func(id uint64) (transport.Transport, string) {
			return net.Transport(id), fmt.Sprintf("mem-%d", id)
		}}
	t.Cleanup(func() {
		c.stopAll()
		net.Close()
	})
	return c, net
}

func TestProposeOnEveryMember(t *testing.T) {
	c, _ := memCluster(t)
	c.bootstrap(3)
	c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 30 {
		m := c.members[uint64(i%3+1)]
		res, err := m.n.Propose(ctx, []byte(fmt.Sprintf("k%d=v%d", i, i)))
		if err != nil {
			t.Fatalf("Propose on %d = %v", m.id, err)
		}
		if res.(int) != i+1 {
			t.Fatalf("Propose #%d on %d = %v, want %d", i, m.id, res, i+1)
		}
	}
	st := c.converge(10 * time.Second)
	if len(st) != 30 {
		t.Fatalf("converged on %d keys, want 30", len(st))
	}
}

func TestReadIndexSeesCompletedWrites(t *testing.T) {
	c, _ := memCluster(t)
	c.bootstrap(3)
	c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 10 {
		w := c.members[uint64(i%3+1)]
		if err := propose(ctx, w, fmt.Sprintf("x=%d", i)); err != nil {
			t.Fatal(err)
		}
		r := c.members[uint64((i+1)%3+1)]
		if _, err := r.n.ReadIndex(ctx); err != nil {
			t.Fatalf("ReadIndex on %d = %v", r.id, err)
		}
		if got, _ := r.sm.state(); got["x"] != fmt.Sprint(i) {
			t.Fatalf("after ReadIndex member %d reads x=%q, want %d", r.id, got["x"], i)
		}
	}
}

func TestStartModesRefuseTheWrongDataDir(t *testing.T) {
	c, _ := memCluster(t)
	c.bootstrap(1)
	m := c.members[1]
	c.leader()
	c.stop(1)
	tr, _ := c.newTransport(1)
	cfg := c.config(m, tr)
	if _, err := node.Bootstrap(cfg, []node.Member{{ID: 1, Addr: "x"}}); !errors.Is(err, node.ErrHasState) {
		t.Errorf("Bootstrap on a used data directory = %v, want ErrHasState", err)
	}
	if _, err := node.Join(cfg, nil); !errors.Is(err, node.ErrHasState) {
		t.Errorf("Join on a used data directory = %v, want ErrHasState", err)
	}
	other := cfg
	other.ClusterID = 99
	if _, err := node.Restart(other); err == nil {
		t.Errorf("Restart with another cluster ID succeeded")
	}
	other = cfg
	other.ID = 2
	if _, err := node.Restart(other); err == nil {
		t.Errorf("Restart with another node ID succeeded")
	}
	empty := cfg
	empty.DataDir = t.TempDir()
	if _, err := node.Restart(empty); !errors.Is(err, node.ErrNoState) {
		t.Errorf("Restart on an empty data directory = %v, want ErrNoState", err)
	}
	tr.Close()
	c.restart(1)
	c.leader()
}

func TestProposeFailsFastWhenOverloaded(t *testing.T) {
	c, net := memCluster(t)
	c.tweak = func(cfg *node.Config) { cfg.MaxPendingProposals = 2 }
	c.bootstrap(3)
	lead := c.leader()
	// Cut the leader off: proposals stay pending.
	net.Isolate(lead.id)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	errc := make(chan error, 2)
	for range 2 {
		go func() { _, err := lead.n.Propose(ctx, []byte("a=b")); errc <- err }()
	}
	waitFor(t, 5*time.Second, "two pending proposals", func() bool {
		st, err := lead.n.Status(context.Background())
		return err == nil && st.PendingProposals == 2
	})
	if _, err := lead.n.Propose(context.Background(), []byte("c=d")); !errors.Is(err, node.ErrOverloaded) {
		t.Fatalf("third Propose = %v, want ErrOverloaded", err)
	}
	for range 2 {
		if err := <-errc; !errors.Is(err, node.ErrOutcomeUnknown) && !node.IsNotLeader(err) {
			t.Errorf("cut-off Propose = %v, want ErrOutcomeUnknown", err)
		}
	}
	net.Heal()
}

// A Bootstrap refused for a reason of the caller's (here: the metrics are
// registered already) writes nothing, so the corrected call bootstraps.
func TestBootstrapRefusedWritesNothing(t *testing.T) {
	net := memtransport.NewNetwork(memtransport.Options{})
	defer net.Close()
	reg := prometheus.NewRegistry()
	if err := reg.Register(prometheus.NewGauge(prometheus.GaugeOpts{Name: "ironraft_term", Help: "taken"})); err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{ID: 1, ClusterID: 5, DataDir: t.TempDir(), Transport: net.Transport(1),
		StateMachine: newKVSM(), TickInterval: 10 * time.Millisecond, Registerer: reg}
	members := []node.Member{{ID: 1, Addr: "m1"}}
	if _, err := node.Bootstrap(cfg, members); err == nil {
		t.Fatalf("Bootstrap with a clashing metric succeeded")
	}
	cfg.Registerer = prometheus.NewRegistry()
	n, err := node.Bootstrap(cfg, members)
	if err != nil {
		t.Fatalf("Bootstrap after the refused one = %v", err)
	}
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
}
