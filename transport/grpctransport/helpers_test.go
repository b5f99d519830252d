package grpctransport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for a condition.
const waitTimeout = 10 * time.Second

// recorder is a transport.Handler that records what it is given.
type recorder struct {
	mu          sync.Mutex
	msgs        []*raftpb.Message
	unreachable map[uint64]int
	snaps       []snapReport
	// receive, when set, is called by Receive before recording, outside
	// mu; a non-nil error is returned and nothing recorded.
	receive func(ctx context.Context, msgs []*raftpb.Message) error
}

func newRecorder() *recorder {
	return &recorder{unreachable: map[uint64]int{}}
}

func (r *recorder) Receive(ctx context.Context, msgs []*raftpb.Message) error {
	if r.receive != nil {
		if err := r.receive(ctx, msgs); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, msgs...)
	return nil
}

func (r *recorder) ReportUnreachable(id uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unreachable[id]++
}

func (r *recorder) ReportSnapshot(id uint64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snaps = append(r.snaps, snapReport{id, ok})
}

// received returns a copy of the messages received so far that match f
// (all if f is nil).
func (r *recorder) received(f func(*raftpb.Message) bool) []*raftpb.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*raftpb.Message
	for _, m := range r.msgs {
		if f == nil || f(m) {
			out = append(out, m)
		}
	}
	return out
}

func (r *recorder) unreachableCount(id uint64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreachable[id]
}

func (r *recorder) snapReports() []snapReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]snapReport(nil), r.snaps...)
}

// waitFor waits until cond holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// hasLine reports whether some log line contains every one of parts.
func (b *syncBuffer) hasLine(parts ...string) bool {
	for line := range strings.SplitSeq(b.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return true
		}
	}
	return false
}

// countingObserver counts what an Observer is told.
type countingObserver struct {
	mu       sync.Mutex
	sent     map[Lane][2]int // msgs, bytes
	frames   map[Lane]int    // OnSent calls
	received map[Lane][2]int
	dropped  map[uint64]int
	rtts     int
}

func newCountingObserver() *countingObserver {
	return &countingObserver{sent: map[Lane][2]int{}, frames: map[Lane]int{}, received: map[Lane][2]int{}, dropped: map[uint64]int{}}
}

func (o *countingObserver) OnSent(_ uint64, l Lane, msgs, bytes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.sent[l]
	o.sent[l] = [2]int{c[0] + msgs, c[1] + bytes}
	o.frames[l]++
}

func (o *countingObserver) OnReceived(_ uint64, l Lane, msgs, bytes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.received[l]
	o.received[l] = [2]int{c[0] + msgs, c[1] + bytes}
}

func (o *countingObserver) OnDropped(peer uint64, _ Lane, msgs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropped[peer] += msgs
}

func (o *countingObserver) OnRTT(uint64, time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rtts++
}

func (o *countingObserver) get(f func(o *countingObserver) int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return f(o)
}

// testNode is one transport under test with its handler and logs.
type testNode struct {
	id   uint64
	tr   *Transport
	rec  *recorder
	logs *syncBuffer
	obs  *countingObserver
}

// testConfig returns a Config for node id with fast backoff, on a fresh
// listener on 127.0.0.1 (or on addr if not empty).
func testConfig(t *testing.T, id uint64, addr string) Config {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("net.Listen(%q): %v", addr, err)
	}
	return Config{
		NodeID:         id,
		ClusterID:      7,
		Listener:       lis,
		BackoffInitial: 10 * time.Millisecond,
		BackoffMax:     100 * time.Millisecond,
		DialTimeout:    2 * time.Second,
	}
}

// startNode creates and starts a transport from cfg (given a logger and
// observer here) and closes it at the end of the test. Each of setup is
// applied to the transport before Start.
func startNode(t *testing.T, cfg Config, rec *recorder, setup ...func(*Transport)) *testNode {
	t.Helper()
	if rec == nil {
		rec = newRecorder()
	}
	n := &testNode{id: cfg.NodeID, rec: rec, logs: &syncBuffer{}, obs: newCountingObserver()}
	cfg.Logger = slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Observer = n.obs
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	n.tr = tr
	for _, f := range setup {
		f(tr)
	}
	if err := tr.Start(rec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := tr.Close(); err != nil {
			t.Errorf("Close node %d: %v", n.id, err)
		}
		if t.Failed() {
			t.Logf("logs of node %d:\n%s", n.id, n.logs.String())
		}
	})
	return n
}

func newNode(t *testing.T, id uint64) *testNode {
	t.Helper()
	return startNode(t, testConfig(t, id, ""), nil)
}

// connect makes every node a peer of every other.
func connect(t *testing.T, nodes ...*testNode) {
	t.Helper()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				if err := a.tr.AddPeer(b.id, b.tr.Addr()); err != nil {
					t.Fatalf("AddPeer: %v", err)
				}
			}
		}
	}
}

func app(from, to, index uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgApp, From: from, To: to, Term: 1, Commit: index,
		Entries: []*raftpb.Entry{{Term: 1, Index: index, Data: []byte("entry")}}}
}

func heartbeat(from, to, seq uint64) *raftpb.Message {
	return &raftpb.Message{Type: raftpb.MsgHeartbeat, From: from, To: to, Term: 1, HeartbeatSeq: seq}
}

func ofType(ty raftpb.MessageType, from uint64) func(*raftpb.Message) bool {
	return func(m *raftpb.Message) bool { return m.GetType() == ty && m.GetFrom() == from }
}

// rawCodec sends []byte as they are and proto messages encoded, so that a
// test can put any bytes on the wire.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch v := v.(type) {
	case []byte:
		return v, nil
	case proto.Message:
		return proto.Marshal(v)
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return errors.New("rawCodec: not a proto message")
	}
	return proto.Unmarshal(data, m)
}

func (rawCodec) Name() string { return "proto" }

// dialRaw returns a client for the service at addr, closed at the end of
// the test.
func dialRaw(t *testing.T, addr string) RaftTransportClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return NewRaftTransportClient(conn)
}
