package server

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestLifecycleWithoutStart: New binds, Stop releases, without Start; an
// invalid config closes the listeners it was given.
func TestLifecycleWithoutStart(t *testing.T) {
	cl, pl := listen(t), listen(t)
	cfg := Config{Name: "x", DataDir: t.TempDir(), ClientListeners: []net.Listener{cl}, PeerListener: pl,
		ListenClientURLs: []string{"http://" + cl.Addr().String()}, ListenPeerURLs: []string{"http://" + pl.Addr().String()},
		InitialAdvertisePeerURLs: []string{"http://" + pl.Addr().String()}, ListenMetricsURLs: []string{"http://127.0.0.1:0"}}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ClientAddrs(); len(got) != 1 || got[0] != cl.Addr().String() || s.PeerAddr() != pl.Addr().String() || len(s.MetricsAddrs()) != 1 {
		t.Errorf("addresses = %v, %v, %v", got, s.PeerAddr(), s.MetricsAddrs())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop without Start = %v", err)
	}
	if _, err := cl.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("client listener after Stop: Accept = %v, want closed", err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Errorf("Start after Stop = nil, want an error")
	}

	bad := listen(t)
	cfg = Config{Name: "x", InitialClusterState: "bogus", ClientListeners: []net.Listener{bad}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "--initial-cluster-state") {
		t.Errorf("New(bad config) = %v", err)
	}
	if _, err := bad.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a listener given to a refused config: Accept = %v, want closed", err)
	}
}

// TestJoinWithoutAddFails: a member started with "existing" that nobody
// added gives up when its context ends, with an error saying what to do.
func TestJoinWithoutAddFails(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	m := c.newMember(t, "stranger")
	parts := []string{m.name + "=" + m.peerURL, c.members[0].name + "=" + c.members[0].peerURL}
	saved := c.initial
	c.initial = strings.Join(parts, ",")
	cfg := c.config(m, ClusterStateExisting, nil, nil)
	c.initial = saved
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "add this member first") {
		t.Errorf("Start of a member nobody added = %v, want advice to add it", err)
	}
	s.Stop(context.Background())
}
