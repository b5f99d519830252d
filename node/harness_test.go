package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/transport"
)

// kvSM is a test state machine: commands "key=value" set a key; the result
// of a command is the number of commands applied so far. Its snapshot is
// the map as JSON (taken as a copy, written later).
type kvSM struct {
	mu       sync.Mutex
	m        map[string]string
	count    int
	applied  uint64
	restores int
}

func newKVSM() *kvSM { return &kvSM{m: map[string]string{}} }

func (s *kvSM) Apply(cmds []node.Command) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]any, len(cmds))
	for i, c := range cmds {
		k, v, _ := bytes.Cut(c.Data, []byte("="))
		s.m[string(k)] = string(v)
		s.count++
		s.applied = c.Index
		out[i] = s.count
	}
	return out
}

type kvView struct {
	m     map[string]string
	count int
}

func (v kvView) Write(w io.Writer) error {
	return json.NewEncoder(w).Encode(struct {
		M     map[string]string
		Count int
	}{v.m, v.count})
}
func (kvView) Release() {}

func (s *kvSM) Snapshot() (node.SnapshotView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return kvView{m: maps.Clone(s.m), count: s.count}, nil
}

func (s *kvSM) Restore(r io.Reader) error {
	var st struct {
		M     map[string]string
		Count int
	}
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("kvSM: restore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m, s.count = st.M, st.Count
	s.restores++
	if s.m == nil {
		s.m = map[string]string{}
	}
	return nil
}

func (s *kvSM) state() (map[string]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m), s.count
}

func (s *kvSM) restoreCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}

// gate wraps a member's transport so tests can cut it off from chosen
// peers, in both directions, whatever the transport underneath.
type gate struct {
	transport.Transport
	id  uint64
	mu  sync.Mutex
	cut map[uint64]bool
}

func (g *gate) blocked(peer uint64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cut[peer]
}

func (g *gate) set(peers map[uint64]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cut = peers
}

func (g *gate) Send(msgs []*raftpb.Message) {
	keep := msgs[:0:0]
	for _, m := range msgs {
		if !g.blocked(m.To) {
			keep = append(keep, m)
		}
	}
	if len(keep) > 0 {
		g.Transport.Send(keep)
	}
}

func (g *gate) Start(h transport.Handler) error {
	return g.Transport.Start(gatedHandler{Handler: h, g: g})
}

type gatedHandler struct {
	transport.Handler
	g *gate
}

func (h gatedHandler) Receive(ctx context.Context, msgs []*raftpb.Message) error {
	keep := msgs[:0:0]
	for _, m := range msgs {
		if !h.g.blocked(m.From) {
			keep = append(keep, m)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return h.Handler.Receive(ctx, keep)
}

// member is one member of a test cluster.
type member struct {
	id   uint64
	dir  string
	addr string
	n    *node.Node
	sm   *kvSM
	gate *gate
}

// cluster is a test cluster; newTransport makes member id's transport and
// returns it with its address.
type cluster struct {
	t            *testing.T
	clusterID    uint64
	members      map[uint64]*member
	newTransport func(id uint64) (transport.Transport, string)
	// tweak adjusts each member's config.
	tweak func(*node.Config)
}

func (c *cluster) config(m *member, tr transport.Transport) node.Config {
	m.gate = &gate{Transport: tr, id: m.id}
	cfg := node.Config{
		ID: m.id, ClusterID: c.clusterID, DataDir: m.dir, Transport: m.gate, StateMachine: m.sm,
		TickInterval: 10 * time.Millisecond, ElectionTicks: 10, HeartbeatTicks: 1,
		SegmentBytes: 1 << 20,
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	return cfg
}

// bootstrap starts members 1..k as a new cluster.
func (c *cluster) bootstrap(k int) {
	c.t.Helper()
	var ms []node.Member
	trs := map[uint64]transport.Transport{}
	for id := uint64(1); id <= uint64(k); id++ {
		tr, addr := c.newTransport(id)
		trs[id] = tr
		c.members[id] = &member{id: id, dir: c.t.TempDir(), addr: addr}
		ms = append(ms, node.Member{ID: id, Addr: addr})
	}
	for id := uint64(1); id <= uint64(k); id++ {
		m := c.members[id]
		m.sm = newKVSM()
		n, err := node.Bootstrap(c.config(m, trs[id]), ms)
		if err != nil {
			c.t.Fatalf("Bootstrap(%d) = %v", id, err)
		}
		m.n = n
	}
}

// join starts a new member id with Join and returns it; the caller adds it.
func (c *cluster) join(id uint64) *member {
	c.t.Helper()
	tr, addr := c.newTransport(id)
	m := &member{id: id, dir: c.t.TempDir(), addr: addr, sm: newKVSM()}
	c.members[id] = m
	n, err := node.Join(c.config(m, tr), c.memberList())
	if err != nil {
		c.t.Fatalf("Join(%d) = %v", id, err)
	}
	m.n = n
	return m
}

func (c *cluster) memberList() []node.Member {
	var ms []node.Member
	for _, m := range c.members {
		ms = append(ms, node.Member{ID: m.id, Addr: m.addr})
	}
	return ms
}

// stop stops member id (its data stays).
func (c *cluster) stop(id uint64) {
	c.t.Helper()
	m := c.members[id]
	if m.n == nil {
		return
	}
	if err := m.n.Stop(); err != nil {
		c.t.Errorf("Stop(%d) = %v", id, err)
	}
	m.n = nil
}

// restart restarts a stopped member from its data directory.
func (c *cluster) restart(id uint64) {
	c.t.Helper()
	m := c.members[id]
	tr, addr := c.newTransport(id)
	m.addr = addr
	m.sm = newKVSM()
	n, err := node.Restart(c.config(m, tr), c.memberList()...)
	if err != nil {
		c.t.Fatalf("Restart(%d) = %v", id, err)
	}
	m.n = n
}

func (c *cluster) stopAll() {
	for id := range c.members {
		c.stop(id)
	}
}

// running returns the members that run.
func (c *cluster) running() []*member {
	var ms []*member
	for _, m := range c.members {
		if m.n != nil {
			ms = append(ms, m)
		}
	}
	return ms
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until the running members among ids agree on a leader that
// runs, and returns it.
func (c *cluster) leader() *member {
	c.t.Helper()
	var lead *member
	waitFor(c.t, 10*time.Second, "a leader", func() bool {
		lead = nil
		var id uint64
		for _, m := range c.running() {
			l, _ := m.n.Leader()
			if l == 0 || (id != 0 && l != id) {
				return false
			}
			id = l
		}
		if lm := c.members[id]; lm != nil && lm.n != nil {
			lead = lm
		}
		return lead != nil
	})
	return lead
}

// propose proposes cmd through member m, retrying on errors that promise
// nothing was applied; it returns the error if it is an unknown outcome.
func propose(ctx context.Context, m *member, cmd string) error {
	for {
		_, err := m.n.Propose(ctx, []byte(cmd))
		switch {
		case err == nil:
			return nil
		case errors.Is(err, node.ErrOverloaded) || node.IsNotLeader(err):
			if ctx.Err() != nil {
				return err
			}
			time.Sleep(10 * time.Millisecond)
		default:
			return err
		}
	}
}

// converge waits until every running member applied the same state, and
// returns it.
func (c *cluster) converge(d time.Duration) map[string]string {
	c.t.Helper()
	var want map[string]string
	var diff string
	waitFor(c.t, d, "replicas to converge", func() bool {
		want = nil
		for _, m := range c.running() {
			got, _ := m.sm.state()
			if want == nil {
				want = got
				continue
			}
			if !maps.Equal(want, got) {
				diff = fmt.Sprintf("member %d has %d keys, another %d", m.id, len(got), len(want))
				return false
			}
		}
		return true
	})
	_ = diff
	return want
}

// partition splits the members into groups that cannot reach each other
// (a member in no group is cut off from everyone); heal ends it.
func (c *cluster) partition(groups ...[]uint64) {
	side := map[uint64]int{}
	for i, g := range groups {
		for _, id := range g {
			side[id] = i + 1
		}
	}
	for _, m := range c.members {
		cut := map[uint64]bool{}
		for _, o := range c.members {
			if o.id != m.id && (side[m.id] == 0 || side[o.id] != side[m.id]) {
				cut[o.id] = true
			}
		}
		if m.gate != nil {
			m.gate.set(cut)
		}
	}
}

func (c *cluster) heal() {
	for _, m := range c.members {
		if m.gate != nil {
			m.gate.set(nil)
		}
	}
}

// acked records the writes that were acknowledged, to check that none is
// lost.
type acked struct {
	mu sync.Mutex
	kv map[string]string
}

// load proposes count writes key-prefix-i through the running members in
// turn, recording those acknowledged; writes with an unknown outcome are
// not recorded (they may or may not be applied).
func (c *cluster) load(a *acked, prefix string, count int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range count {
		ms := c.running()
		m := ms[i%len(ms)]
		k, v := fmt.Sprintf("%s-%d", prefix, i), fmt.Sprint(i)
		pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
		err := propose(pctx, m, k+"="+v)
		pcancel()
		if err == nil {
			a.mu.Lock()
			if a.kv == nil {
				a.kv = map[string]string{}
			}
			a.kv[k] = v
			a.mu.Unlock()
		}
	}
}

// checkAcked converges the running members and checks every acknowledged
// write is in their state.
func (c *cluster) checkAcked(a *acked) {
	c.t.Helper()
	st := c.converge(20 * time.Second)
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, v := range a.kv {
		if st[k] != v {
			c.t.Fatalf("acknowledged write %s=%s lost (state has %q)", k, v, st[k])
		}
	}
	if len(a.kv) == 0 {
		c.t.Fatalf("no write was acknowledged")
	}
}

// other returns a member other than id.
func (c *cluster) other(id uint64) uint64 {
	for o := range c.members {
		if o != id {
			return o
		}
	}
	c.t.Fatalf("no member other than %d", id)
	return 0
}

// waitRemoved waits until removed stops by itself because it applied its
// removal.
func waitRemoved(t *testing.T, removed *member) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("removed member %d to stop", removed.id), func() bool {
		select {
		case <-removed.n.Done():
			return true
		default:
			return false
		}
	})
	if err := removed.n.Err(); !errors.Is(err, node.ErrRemoved) {
		t.Fatalf("removed member's Err() = %v, want ErrRemoved", err)
	}
}
