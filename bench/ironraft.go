package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/transport/grpctransport"
)

// byteCounter is the benchmark's state machine: it counts the bytes of
// the commands it applied.
type byteCounter struct {
	bytes atomic.Int64
}

var _ node.StateMachine = (*byteCounter)(nil)

func (c *byteCounter) Apply(cmds []node.Command) []any {
	var n int64
	for _, cmd := range cmds {
		n += int64(len(cmd.Data))
	}
	c.bytes.Add(n)
	return make([]any, len(cmds))
}

func (c *byteCounter) Snapshot() (node.SnapshotView, error) {
	return counterView(c.bytes.Load()), nil
}

func (c *byteCounter) Restore(r io.Reader) error {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("bench: restore the byte counter: %w", err)
	}
	c.bytes.Store(int64(binary.BigEndian.Uint64(b[:])))
	return nil
}

// counterView is a snapshot of a byteCounter: the count, 8 bytes big
// endian.
type counterView int64

func (v counterView) Write(w io.Writer) error {
	_, err := w.Write(binary.BigEndian.AppendUint64(nil, uint64(v)))
	return err
}

func (counterView) Release() {}

// IronraftCluster is a three-member ironraft cluster in this process, over
// grpctransport on loopback, each member with its WAL in its own
// directory.
type IronraftCluster struct {
	dir    string
	nodes  []*node.Node
	leader *node.Node
}

const ironraftClusterID = 0xbe7c4

// StartIronraft bootstraps a cluster and waits until it has a leader.
func StartIronraft(ctx context.Context, opts Options) (*IronraftCluster, error) {
	dir, err := makeDataDir(opts, "ironraft")
	if err != nil {
		return nil, err
	}
	c := &IronraftCluster{dir: dir}
	if err := c.start(ctx, opts); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *IronraftCluster) start(ctx context.Context, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Listen first, so every member's address is known before any starts.
	var lns []net.Listener
	defer func() { // the listeners no transport took over
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var members []node.Member
	for id := uint64(1); id <= clusterSize; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("bench: ironraft: listen: %w", err)
		}
		lns = append(lns, ln)
		members = append(members, node.Member{ID: id, Addr: ln.Addr().String()})
	}
	for _, m := range members {
		tr, err := grpctransport.New(grpctransport.Config{NodeID: m.ID, ClusterID: ironraftClusterID,
			Listener: lns[0], Logger: logger})
		if err != nil {
			return fmt.Errorf("bench: ironraft: member %d transport: %w", m.ID, err)
		}
		lns = lns[1:] // the transport owns it now
		var reg prometheus.Registerer
		if opts.Registerer != nil {
			reg = opts.Registerer(m.ID)
		}
		n, err := node.Bootstrap(node.Config{
			ID: m.ID, ClusterID: ironraftClusterID,
			DataDir:       filepath.Join(c.dir, fmt.Sprintf("member-%d", m.ID)),
			Transport:     tr,
			StateMachine:  &byteCounter{},
			TickInterval:  tickInterval,
			ElectionTicks: electionTicks,
			Registerer:    reg,
			Logger:        logger,
		}, members)
		if err != nil {
			return errors.Join(fmt.Errorf("bench: ironraft: bootstrap member %d: %w", m.ID, err), tr.Close())
		}
		c.nodes = append(c.nodes, n)
	}
	return waitFor(ctx, "an ironraft leader", func() bool {
		c.leader = c.findLeader()
		return c.leader != nil
	})
}

// findLeader returns the member that sees itself lead, if any.
func (c *IronraftCluster) findLeader() *node.Node {
	for _, n := range c.nodes {
		if lead, _ := n.Leader(); lead == n.ID() {
			return n
		}
	}
	return nil
}

// Leader proposes on the member that led when the cluster started.
func (c *IronraftCluster) Leader() Proposer { return ironraftProposer{c.leader} }

// Follower proposes on a member that followed when the cluster started;
// it forwards each proposal to the leader and answers once it applied it.
func (c *IronraftCluster) Follower() Proposer {
	for _, n := range c.nodes {
		if n != c.leader {
			return ironraftProposer{n}
		}
	}
	panic(fmt.Sprintf("bench: ironraft cluster of %d members has no follower", len(c.nodes)))
}

// Close stops every member and removes the data directory.
func (c *IronraftCluster) Close() error {
	var errs []error
	for _, n := range c.nodes {
		if err := n.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("bench: ironraft: stop member %d: %w", n.ID(), err))
		}
	}
	c.nodes = nil
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("bench: ironraft: %w", err))
	}
	return errors.Join(errs...)
}

type ironraftProposer struct{ n *node.Node }

func (p ironraftProposer) Propose(ctx context.Context, cmd []byte) error {
	_, err := p.n.Propose(ctx, cmd)
	return err
}
