package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/transport"
	"github.com/ironraft/ironraft/vfs"
)

// Defaults applied to zero-valued Config fields.
const (
	DefaultTickInterval            = 100 * time.Millisecond
	DefaultElectionTicks           = 10
	DefaultHeartbeatTicks          = 1
	DefaultMaxCommandBytes         = 8 << 20
	DefaultMaxPendingProposals     = 8192
	DefaultMaxPendingBytes         = 64 << 20
	DefaultMaxInboxMessages        = 16384
	DefaultSnapshotEntries         = 10000
	DefaultSnapshotLogBytes        = 256 << 20
	DefaultSnapshotTrailingEntries = 5000
	DefaultApplyQueueBatches       = 64
)

// Config describes one member of a cluster.
type Config struct {
	// ID is this member's ID, ClusterID the cluster's; neither may be 0.
	// The data directory is stamped with both and refuses any other pair.
	ID, ClusterID uint64
	// DataDir holds the WAL, the snapshots and the address book.
	DataDir string
	// FS is the file system of DataDir. Default vfs.Default (the OS).
	FS vfs.FS

	// Transport carries messages to the other members. The node starts it
	// and closes it when it stops.
	Transport transport.Transport
	// StateMachine is the replicated application state.
	StateMachine StateMachine

	// TickInterval is the length of one Raft tick. ElectionTicks and
	// HeartbeatTicks are the election timeout and heartbeat interval in
	// ticks (raft.Config.ElectionTick, HeartbeatTick).
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// LeaseReads confirms reads by the leader's lease instead of a round of
	// heartbeats (raft.ReadOnlyLeaseBased). It trusts bounded clock drift.
	LeaseReads bool

	// MaxCommandBytes bounds one proposed command.
	MaxCommandBytes int
	// MaxPendingProposals and MaxPendingBytes bound the proposals that wait
	// on this member for their result; beyond them Propose fails at once
	// with ErrOverloaded.
	MaxPendingProposals int
	MaxPendingBytes     int64
	// MaxInboxMessages bounds the messages received from peers and not yet
	// stepped; beyond it inbound messages are dropped (Raft retransmits).
	MaxInboxMessages int
	// ApplyQueueBatches bounds the committed batches waiting for the state
	// machine; when it is full, persistence waits (and so does the log).
	ApplyQueueBatches int

	// SnapshotEntries and SnapshotLogBytes trigger a snapshot when that
	// many entries (plus a random eighth at most, drawn per snapshot, so
	// that members do not snapshot together), or that many payload bytes,
	// were applied since the last one. SnapshotTrailingEntries entries are kept in the log below
	// each snapshot, so a slow follower can catch up without one.
	SnapshotEntries         uint64
	SnapshotLogBytes        uint64
	SnapshotTrailingEntries uint64

	// Raft tunes the core's limits; ID, ElectionTick, HeartbeatTick,
	// Storage, Applied, ReadOnlyOption, Logger and Rand are set by the
	// node. Zero values take the raft package's defaults.
	Raft RaftLimits

	// SegmentBytes, CacheBytes and SnapshotsKept are the storage options
	// (storage.Options); zero takes the storage defaults.
	SegmentBytes  int64
	CacheBytes    int64
	SnapshotsKept int

	// Registerer receives the node's metrics (docs/metrics.md); nil
	// registers none.
	Registerer prometheus.Registerer
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
}

// RaftLimits are the core's message and memory limits (see raft.Config).
type RaftLimits struct {
	MaxSizePerMsg             uint64
	MaxCommittedSizePerReady  uint64
	MaxUncommittedEntriesSize uint64
	MaxInflightMsgs           int
	MaxInflightBytes          uint64
	MaxPendingReads           int
}

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.MaxCommandBytes == 0 {
		c.MaxCommandBytes = DefaultMaxCommandBytes
	}
	if c.MaxPendingProposals == 0 {
		c.MaxPendingProposals = DefaultMaxPendingProposals
	}
	if c.MaxPendingBytes == 0 {
		c.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if c.MaxInboxMessages == 0 {
		c.MaxInboxMessages = DefaultMaxInboxMessages
	}
	if c.ApplyQueueBatches == 0 {
		c.ApplyQueueBatches = DefaultApplyQueueBatches
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = DefaultSnapshotEntries
	}
	if c.SnapshotLogBytes == 0 {
		c.SnapshotLogBytes = DefaultSnapshotLogBytes
	}
	if c.SnapshotTrailingEntries == 0 {
		c.SnapshotTrailingEntries = DefaultSnapshotTrailingEntries
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ID == 0 {
		bad("node: ID must not be 0")
	}
	if c.ClusterID == 0 {
		bad("node: ClusterID must not be 0")
	}
	if c.DataDir == "" {
		bad("node: DataDir is required")
	}
	if c.Transport == nil {
		bad("node: Transport is required")
	}
	if c.StateMachine == nil {
		bad("node: StateMachine is required")
	}
	if c.TickInterval < time.Millisecond {
		bad("node: TickInterval %v is below 1ms", c.TickInterval)
	}
	if c.HeartbeatTicks <= 0 || c.ElectionTicks <= c.HeartbeatTicks {
		bad("node: ElectionTicks %d must exceed HeartbeatTicks %d > 0", c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.MaxCommandBytes < 0 || c.MaxPendingProposals < 0 || c.MaxPendingBytes < 0 ||
		c.MaxInboxMessages < 0 || c.ApplyQueueBatches < 0 {
		bad("node: limits must not be negative (MaxCommandBytes %d, MaxPendingProposals %d, MaxPendingBytes %d, MaxInboxMessages %d, ApplyQueueBatches %d)",
			c.MaxCommandBytes, c.MaxPendingProposals, c.MaxPendingBytes, c.MaxInboxMessages, c.ApplyQueueBatches)
	}
	if int64(c.MaxCommandBytes) > c.MaxPendingBytes {
		bad("node: MaxCommandBytes %d exceeds MaxPendingBytes %d", c.MaxCommandBytes, c.MaxPendingBytes)
	}
	if c.SegmentBytes < 0 || c.CacheBytes < 0 || c.SnapshotsKept < 0 {
		bad("node: storage options must not be negative (SegmentBytes %d, CacheBytes %d, SnapshotsKept %d)",
			c.SegmentBytes, c.CacheBytes, c.SnapshotsKept)
	}
	if err := c.raftConfig(nil, 0).Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// raftConfig is the core's configuration for this member.
func (c Config) raftConfig(st raft.Storage, applied uint64) *raft.Config {
	rc := &raft.Config{
		ID:                        c.ID,
		ElectionTick:              c.ElectionTicks,
		HeartbeatTick:             c.HeartbeatTicks,
		Storage:                   st,
		Applied:                   applied,
		MaxSizePerMsg:             c.Raft.MaxSizePerMsg,
		MaxCommittedSizePerReady:  c.Raft.MaxCommittedSizePerReady,
		MaxUncommittedEntriesSize: c.Raft.MaxUncommittedEntriesSize,
		MaxInflightMsgs:           c.Raft.MaxInflightMsgs,
		MaxInflightBytes:          c.Raft.MaxInflightBytes,
		MaxPendingReads:           c.Raft.MaxPendingReads,
		Logger:                    c.Logger,
	}
	if c.LeaseReads {
		rc.ReadOnlyOption = raft.ReadOnlyLeaseBased
	}
	if st == nil {
		rc.Storage = raft.NewMemoryStorage() // only for Validate
	}
	return rc
}
