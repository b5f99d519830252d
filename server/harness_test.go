package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/protobuf/testing/protocmp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Test timing: a 20ms tick and a 200ms election timeout keep elections
// quick and still stable under the race detector on two cores.
const (
	testHeartbeat = 20 * time.Millisecond
	testElection  = 200 * time.Millisecond
	testWait      = 20 * time.Second // deadline of every wait-for-condition
)

// testLogger logs to stderr with IRONKV_TEST_LOG set, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("IRONKV_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testMember is one member of a test cluster: its config (with listeners)
// and, while it runs, its server.
type testMember struct {
	name       string
	clientURL  string
	peerURL    string
	dataDir    string
	srv        *Server
	clientAddr string
}

type testCluster struct {
	t       *testing.T
	members []*testMember
	initial string // --initial-cluster
	tweak   func(*Config)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// newTestCluster starts n members on 127.0.0.1 with random ports and waits
// for a leader. tweak, if not nil, adjusts every member's config.
func newTestCluster(t *testing.T, n int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t, tweak: tweak}
	var parts []string
	var clientLns, peerLns []net.Listener
	for i := range n {
		cl, pl := listen(t), listen(t)
		m := &testMember{name: fmt.Sprintf("m%d", i), clientURL: "http://" + cl.Addr().String(),
			peerURL: "http://" + pl.Addr().String(), dataDir: filepath.Join(t.TempDir(), "data")}
		c.members = append(c.members, m)
		clientLns, peerLns = append(clientLns, cl), append(peerLns, pl)
		parts = append(parts, m.name+"="+m.peerURL)
	}
	c.initial = strings.Join(parts, ",")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range c.members {
		s, err := New(c.config(m, ClusterStateNew, clientLns[i], peerLns[i]))
		if err != nil {
			t.Fatal(err)
		}
		m.srv = s
		wg.Go(func() { errs[i] = s.Start(context.Background()) })
	}
	wg.Wait()
	t.Cleanup(c.stopAll)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.waitLeader(t)
	return c
}

func (c *testCluster) config(m *testMember, state string, cl, pl net.Listener) Config {
	cfg := Config{
		Name: m.name, DataDir: m.dataDir,
		ListenClientURLs: []string{m.clientURL}, AdvertiseClientURLs: []string{m.clientURL},
		ListenPeerURLs: []string{m.peerURL}, InitialAdvertisePeerURLs: []string{m.peerURL},
		InitialCluster: c.initial, InitialClusterState: state, InitialClusterToken: "ironkv-test",
		HeartbeatInterval: testHeartbeat, ElectionTimeout: testElection,
		Logger: testLogger(),
	}
	if cl != nil {
		cfg.ClientListeners = []net.Listener{cl}
	}
	if pl != nil {
		cfg.PeerListener = pl
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

func (c *testCluster) stopAll() {
	var wg sync.WaitGroup
	for _, m := range c.members {
		if m.srv != nil {
			s := m.srv
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s.Stop(ctx)
			})
		}
	}
	wg.Wait()
}

// stop stops member i gracefully.
func (c *testCluster) stop(t *testing.T, i int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.members[i].srv.Stop(ctx); err != nil {
		t.Errorf("Stop(m%d) = %v", i, err)
	}
	c.members[i].srv = nil
}

// restart starts member i again from its data directory, on its old
// addresses.
func (c *testCluster) restart(t *testing.T, i int) {
	t.Helper()
	m := c.members[i]
	cfg := c.config(m, ClusterStateNew, nil, nil)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		s.Stop(context.Background())
		t.Fatal(err)
	}
	m.srv = s
}

// running returns the indexes of the running members.
func (c *testCluster) running() []int {
	var out []int
	for i, m := range c.members {
		if m.srv != nil {
			out = append(out, i)
		}
	}
	return out
}

// waitLeader waits until every running member knows the same leader, and
// returns its index.
func (c *testCluster) waitLeader(t *testing.T) int {
	t.Helper()
	var lead int
	waitFor(t, "a leader every member agrees on", func() bool {
		lead = -1
		var id uint64
		for _, i := range c.running() {
			l, _ := c.members[i].srv.node.Leader()
			if l == 0 || (id != 0 && l != id) {
				return false
			}
			id = l
		}
		for _, i := range c.running() {
			if c.members[i].srv.ID() == id {
				lead = i
			}
		}
		return lead >= 0
	})
	return lead
}

// follower returns the index of a running member that does not lead.
func (c *testCluster) follower(t *testing.T) int {
	t.Helper()
	lead := c.waitLeader(t)
	for _, i := range c.running() {
		if i != lead {
			return i
		}
	}
	t.Fatal("no follower")
	return -1
}

// client returns a clientv3 client of the given members (all running ones
// if none), closed at the end of the test.
func (c *testCluster) client(t *testing.T, members ...int) *clientv3.Client {
	t.Helper()
	if len(members) == 0 {
		members = c.running()
	}
	var eps []string
	for _, i := range members {
		eps = append(eps, c.members[i].clientURL)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// waitFor waits until cond holds, failing the test after testWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testWait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	t.Cleanup(cancel)
	return ctx
}

// cmpProto compares protobuf messages with cmp.
var cmpProto = protocmp.Transform()
