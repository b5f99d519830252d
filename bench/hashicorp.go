package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// hashicorpFSM is the benchmark's state machine for hashicorp/raft: it
// counts the bytes of the commands it applied.
type hashicorpFSM struct {
	bytes atomic.Int64
}

var _ raft.FSM = (*hashicorpFSM)(nil)

func (f *hashicorpFSM) Apply(l *raft.Log) any {
	f.bytes.Add(int64(len(l.Data)))
	return nil
}

func (f *hashicorpFSM) Snapshot() (raft.FSMSnapshot, error) {
	return hashicorpSnapshot(f.bytes.Load()), nil
}

func (f *hashicorpFSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("bench: restore the byte counter: %w", err)
	}
	f.bytes.Store(int64(binary.BigEndian.Uint64(b[:])))
	return nil
}

type hashicorpSnapshot int64

func (s hashicorpSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(binary.BigEndian.AppendUint64(nil, uint64(s))); err != nil {
		return errors.Join(err, sink.Cancel())
	}
	return sink.Close()
}

func (hashicorpSnapshot) Release() {}

// hashicorpMember is one member of a HashicorpCluster and what it owns.
type hashicorpMember struct {
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
}

// HashicorpCluster is a three-member hashicorp/raft cluster in this
// process, over its TCP transport on loopback, each member with a
// raft-boltdb store (log and stable store, fsync on every write) and a
// file snapshot store in its own directory.
type HashicorpCluster struct {
	dir     string
	logger  hclog.Logger
	members []*hashicorpMember
	// leader is the member Propose applies on; it is looked up again when
	// it answers that it no longer leads.
	leader atomic.Pointer[raft.Raft]
}

// Transport settings: connections kept per peer, and the I/O timeout.
const (
	hashicorpMaxPool       = 3
	hashicorpIOTimeout     = 10 * time.Second
	hashicorpSnapshotsKept = 2
)

// StartHashicorp bootstraps a cluster and waits until it has a leader.
func StartHashicorp(ctx context.Context, opts Options) (*HashicorpCluster, error) {
	dir, err := makeDataDir(opts, "hashicorp")
	if err != nil {
		return nil, err
	}
	c := &HashicorpCluster{dir: dir}
	if err := c.start(ctx); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func (c *HashicorpCluster) start(ctx context.Context) error {
	c.logger = hclog.New(&hclog.LoggerOptions{Name: "hashicorp-raft", Level: hclog.Error, Output: os.Stderr})
	logger := c.logger
	var confs []*raft.Config
	var servers []raft.Server
	for i := 1; i <= clusterSize; i++ {
		m := &hashicorpMember{}
		c.members = append(c.members, m) // Close releases what it holds so far
		mdir := filepath.Join(c.dir, fmt.Sprintf("member-%d", i))
		if err := os.MkdirAll(mdir, 0o750); err != nil {
			return fmt.Errorf("bench: hashicorp: %w", err)
		}
		var err error
		if m.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(mdir, "raft.db")}); err != nil {
			return fmt.Errorf("bench: hashicorp: member %d bolt store: %w", i, err)
		}
		if m.trans, err = raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, hashicorpMaxPool, hashicorpIOTimeout, logger); err != nil {
			return fmt.Errorf("bench: hashicorp: member %d transport: %w", i, err)
		}
		conf := raft.DefaultConfig()
		conf.LocalID = raft.ServerID(fmt.Sprint(i))
		conf.HeartbeatTimeout = heartbeatTimeout
		conf.ElectionTimeout = electionTimeout
		conf.LeaderLeaseTimeout = leaderLeaseTimeout
		conf.Logger = logger.Named(string(conf.LocalID))
		confs = append(confs, conf)
		servers = append(servers, raft.Server{ID: conf.LocalID, Address: m.trans.LocalAddr()})
	}
	for i, m := range c.members {
		snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(c.dir, fmt.Sprintf("member-%d", i+1)), hashicorpSnapshotsKept, logger)
		if err != nil {
			return fmt.Errorf("bench: hashicorp: member %d snapshot store: %w", i+1, err)
		}
		if err := raft.BootstrapCluster(confs[i], m.store, m.store, snaps, m.trans, raft.Configuration{Servers: servers}); err != nil {
			return fmt.Errorf("bench: hashicorp: bootstrap member %d: %w", i+1, err)
		}
		if m.raft, err = raft.NewRaft(confs[i], &hashicorpFSM{}, m.store, m.store, snaps, m.trans); err != nil {
			return fmt.Errorf("bench: hashicorp: start member %d: %w", i+1, err)
		}
	}
	return waitFor(ctx, "a hashicorp leader", func() bool {
		r := c.findLeader()
		c.leader.Store(r)
		return r != nil
	})
}

// findLeader returns the member that sees itself lead, if any.
func (c *HashicorpCluster) findLeader() *raft.Raft {
	for _, m := range c.members {
		if m.raft != nil && m.raft.State() == raft.Leader {
			return m.raft
		}
	}
	return nil
}

// Leader applies on the leader, as hashicorp/raft requires.
func (c *HashicorpCluster) Leader() Proposer { return hashicorpProposer{c} }

// Close shuts every member down, closes the transports and stores and
// removes the data directory.
func (c *HashicorpCluster) Close() error {
	var errs []error
	if c.logger != nil {
		// Members log errors about connections their peers close while
		// shutting down; Close returns the errors that matter.
		c.logger.SetLevel(hclog.Off)
	}
	for i, m := range c.members {
		if m.raft != nil {
			if err := m.raft.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("bench: hashicorp: shut member %d down: %w", i+1, err))
			}
		}
	}
	for i, m := range c.members {
		if m.trans != nil {
			if err := m.trans.Close(); err != nil {
				errs = append(errs, fmt.Errorf("bench: hashicorp: close member %d transport: %w", i+1, err))
			}
		}
		if m.store != nil {
			if err := m.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("bench: hashicorp: close member %d store: %w", i+1, err))
			}
		}
	}
	c.members = nil
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("bench: hashicorp: %w", err))
	}
	return errors.Join(errs...)
}

type hashicorpProposer struct{ c *HashicorpCluster }

// Propose applies cmd on the leader and waits until the leader's FSM
// applied it. The wait itself does not follow ctx (an ApplyFuture cannot
// be abandoned); ctx's deadline bounds the enqueueing.
func (p hashicorpProposer) Propose(ctx context.Context, cmd []byte) error {
	r := p.c.leader.Load()
	if r == nil {
		return raft.ErrNotLeader
	}
	timeout := DefaultProposeTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	err := r.Apply(cmd, timeout).Error()
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		p.c.leader.CompareAndSwap(r, p.c.findLeader())
	}
	return err
}
