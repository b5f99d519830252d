package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/transport"
)

func TestMetricsRegisteredAndUpdated(t *testing.T) {
	c, _ := memCluster(t)
	regs := map[uint64]*prometheus.Registry{}
	c.tweak = func(cfg *node.Config) {
		r := prometheus.NewRegistry()
		regs[cfg.ID] = r
		cfg.Registerer = r
	}
	c.bootstrap(3)
	lead := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if err := propose(ctx, lead, fmt.Sprintf("m%d=1", i)); err != nil {
			t.Fatal(err)
		}
	}
	reg := regs[lead.id]
	for name, want := range map[string]float64{
		"ironraft_is_leader":                 1,
		"ironraft_leader_id":                 float64(lead.id),
		"ironraft_proposals_committed_total": 5,
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				if g := m.GetGauge(); g != nil {
					got = g.GetValue()
				}
				if c := m.GetCounter(); c != nil {
					got = c.GetValue()
				}
			}
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if n := testutil.CollectAndCount(reg, "ironraft_propose_to_commit_seconds", "ironraft_wal_fsync_seconds"); n != 2 {
		t.Errorf("latency histograms collected: %d, want 2", n)
	}
	// Stopping unregisters, so a restart can register again.
	c.stop(lead.id)
	if n := testutil.CollectAndCount(reg); n != 0 {
		t.Errorf("after Stop %d metrics remain registered", n)
	}
	c.restart(lead.id)
	c.leader()
}

func TestPeerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	pm, err := node.NewPeerMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	pm.OnSent(2, transport.LaneData, 3, 300)
	pm.OnReceived(2, transport.LaneControl, 1, 10)
	pm.OnDropped(3, transport.LaneData, 4)
	pm.OnRTT(2, time.Millisecond)
	if got := testutil.ToFloat64(mustCounter(t, reg, "ironraft_peer_sent_bytes_total")); got != 300 {
		t.Errorf("sent bytes = %v, want 300", got)
	}
	if _, err := node.NewPeerMetrics(reg); err == nil {
		t.Errorf("registering the peer metrics twice succeeded")
	}
	pm.Unregister()
	if _, err := node.NewPeerMetrics(reg); err != nil {
		t.Errorf("registering after Unregister = %v", err)
	}
}

// mustCounter returns the one series of metric name in reg as a collector.
func mustCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
			g.Set(v)
			return g
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}
