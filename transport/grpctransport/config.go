package grpctransport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/ironraft/ironraft/transport"
)

// Defaults of the Config limits; a zero field takes its default.
const (
	DefaultMaxQueuedControlMessages = 1024
	DefaultMaxQueuedDataMessages    = 4096
	DefaultMaxQueuedBytes           = 64 << 20
	DefaultMaxBatchBytes            = 4 << 20
	DefaultMaxFrameBytes            = 64 << 20
	DefaultSnapshotChunkBytes       = 1 << 20
	DefaultMaxSnapshotBytes         = 8 << 30
	DefaultMaxInboundSnapshots      = 2
	DefaultMaxStreamsPerConn        = 16
	DefaultDialTimeout              = 5 * time.Second
	DefaultBackoffInitial           = 100 * time.Millisecond
	DefaultBackoffMax               = 5 * time.Second
	DefaultBackoffJitter            = 0.2
	DefaultKeepaliveInterval        = 10 * time.Second
	DefaultKeepaliveTimeout         = 5 * time.Second
	DefaultPingInterval             = time.Second
	DefaultSnapshotChunkTimeout     = 30 * time.Second
)

// frameSlackBytes is what a frame may hold beyond its messages: the
// handshake, the ping and the tag and length of every field. A single
// message may be at most MaxFrameBytes-frameSlackBytes long.
const frameSlackBytes = 1 << 10

// Config configures a Transport. Zero limits take the Default* values;
// Validate reports what is wrong with the result.
type Config struct {
	// NodeID is this node's Raft ID. Invariant: non-zero.
	NodeID uint64
	// ClusterID identifies the cluster; a peer whose handshake names
	// another cluster is refused. Invariant: non-zero.
	ClusterID uint64

	// Listener is where the transport serves its peers. The transport owns
	// it from New on: Close closes it (if New fails, the caller still owns
	// it). Required.
	Listener net.Listener

	// ServerTLS, when set, makes the server speak TLS; set ClientAuth to
	// tls.RequireAndVerifyClientCert (and ClientCAs) for mutual TLS.
	// ClientTLS, when set, makes connections to peers use TLS; give it a
	// Certificates entry for mutual TLS. Both or neither must be set: a
	// cluster speaks TLS everywhere or nowhere.
	ServerTLS, ClientTLS *tls.Config

	// MaxQueuedControlMessages and MaxQueuedDataMessages bound the queue
	// of each peer's control and data lane; a message that does not fit is
	// dropped and the peer reported unreachable.
	MaxQueuedControlMessages int
	MaxQueuedDataMessages    int
	// MaxQueuedBytes bounds the encoded size of each lane's queue, like the
	// counts above.
	MaxQueuedBytes int
	// MaxBatchBytes bounds the messages the sender puts in one frame (a
	// single larger message travels alone). Invariant: <= MaxFrameBytes.
	MaxBatchBytes int
	// MaxFrameBytes bounds every gRPC message received (frames and
	// snapshot chunks); a larger one ends its stream with
	// ResourceExhausted. A message larger than MaxFrameBytes-1KiB is
	// dropped by Send.
	MaxFrameBytes int
	// SnapshotChunkBytes is the data size of each snapshot chunk.
	// Invariant: SnapshotChunkBytes + 1KiB <= MaxFrameBytes.
	SnapshotChunkBytes int
	// MaxSnapshotBytes bounds the snapshot data the server accepts. The
	// data is reassembled in memory (raftpb.Snapshot.Data is one byte
	// slice), so every inbound snapshot may cost this much memory.
	MaxSnapshotBytes int64
	// MaxInboundSnapshots bounds the snapshots being received at once;
	// more are refused with ResourceExhausted (the sender reports failure
	// and Raft retries).
	MaxInboundSnapshots int
	// MaxStreamsPerConn bounds the concurrent streams a peer may open on
	// one connection (a peer needs three: two lanes and a snapshot).
	MaxStreamsPerConn uint32

	// DialTimeout bounds connecting and the handshake of each stream.
	DialTimeout time.Duration
	// BackoffInitial, BackoffMax and BackoffJitter shape the wait between
	// connection attempts: it doubles from BackoffInitial up to BackoffMax,
	// each wait multiplied by a random factor in [1-jitter, 1+jitter].
	// A refused handshake waits BackoffMax at once.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	BackoffJitter  float64
	// KeepaliveInterval and KeepaliveTimeout: a connection idle for
	// KeepaliveInterval is pinged, and closed if the ping is not answered
	// within KeepaliveTimeout. The server accepts pings this frequent.
	KeepaliveInterval time.Duration
	KeepaliveTimeout  time.Duration
	// PingInterval is how often the control lane measures the round-trip
	// time to its peer (Observer.OnRTT).
	PingInterval time.Duration
	// SnapshotChunkTimeout bounds the time to open a snapshot stream, to
	// write each chunk, and to get the receiver's answer after the last
	// one; a snapshot that stalls longer fails.
	SnapshotChunkTimeout time.Duration

	// Logger receives the transport's logs; nil discards them.
	Logger *slog.Logger
	// Observer, when set, is told about traffic, for metrics.
	Observer Observer
}

// Lane names a path messages take to a peer (transport.Lane).
type Lane = transport.Lane

// The lanes.
const (
	LaneControl  = transport.LaneControl
	LaneData     = transport.LaneData
	LaneSnapshot = transport.LaneSnapshot
)

// wireLane is l on the wire.
func wireLane(l Lane) WireLane {
	switch l {
	case LaneControl:
		return WireLane_WIRE_LANE_CONTROL
	case LaneData:
		return WireLane_WIRE_LANE_DATA
	case LaneSnapshot:
		return WireLane_WIRE_LANE_SNAPSHOT
	}
	return WireLane_WIRE_LANE_UNSPECIFIED
}

func laneOf(w WireLane) Lane {
	switch w {
	case WireLane_WIRE_LANE_CONTROL:
		return LaneControl
	case WireLane_WIRE_LANE_DATA:
		return LaneData
	case WireLane_WIRE_LANE_SNAPSHOT:
		return LaneSnapshot
	}
	return 0
}

// Observer is told about a transport's traffic (transport.Observer), so
// that the runtime can export per-peer metrics (node.NewPeerMetrics)
// without depending on gRPC. A snapshot's data counts as bytes with msgs
// 0 and its header as one message; an inbound snapshot is reported once,
// when complete.
type Observer = transport.Observer

// withDefaults returns c with every zero limit set to its default. It is
// the only place defaults are applied.
func (c Config) withDefaults() Config {
	setInt(&c.MaxQueuedControlMessages, DefaultMaxQueuedControlMessages)
	setInt(&c.MaxQueuedDataMessages, DefaultMaxQueuedDataMessages)
	setInt(&c.MaxQueuedBytes, DefaultMaxQueuedBytes)
	setInt(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	setInt(&c.MaxFrameBytes, DefaultMaxFrameBytes)
	setInt(&c.SnapshotChunkBytes, DefaultSnapshotChunkBytes)
	setInt(&c.MaxSnapshotBytes, DefaultMaxSnapshotBytes)
	setInt(&c.MaxInboundSnapshots, DefaultMaxInboundSnapshots)
	setInt(&c.MaxStreamsPerConn, DefaultMaxStreamsPerConn)
	setInt(&c.DialTimeout, DefaultDialTimeout)
	setInt(&c.BackoffMax, DefaultBackoffMax)
	// A small BackoffMax alone also lowers the default initial wait.
	setInt(&c.BackoffInitial, min(DefaultBackoffInitial, c.BackoffMax))
	setInt(&c.BackoffJitter, DefaultBackoffJitter)
	setInt(&c.KeepaliveInterval, DefaultKeepaliveInterval)
	setInt(&c.KeepaliveTimeout, DefaultKeepaliveTimeout)
	setInt(&c.PingInterval, DefaultPingInterval)
	setInt(&c.SnapshotChunkTimeout, DefaultSnapshotChunkTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setInt[T int | int64 | uint32 | time.Duration | float64](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// Validate reports every problem of c at once, as New would see it (zero
// limits taken as their defaults). It changes nothing.
func (c Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if d.NodeID == 0 {
		bad("NodeID is 0")
	}
	if d.ClusterID == 0 {
		bad("ClusterID is 0")
	}
	if d.Listener == nil {
		bad("Listener is nil")
	}
	if (d.ServerTLS == nil) != (d.ClientTLS == nil) {
		bad("ServerTLS set=%t but ClientTLS set=%t: set both or neither", d.ServerTLS != nil, d.ClientTLS != nil)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxQueuedControlMessages", int64(d.MaxQueuedControlMessages)},
		{"MaxQueuedDataMessages", int64(d.MaxQueuedDataMessages)},
		{"MaxQueuedBytes", int64(d.MaxQueuedBytes)},
		{"MaxBatchBytes", int64(d.MaxBatchBytes)},
		{"MaxFrameBytes", int64(d.MaxFrameBytes)},
		{"SnapshotChunkBytes", int64(d.SnapshotChunkBytes)},
		{"MaxSnapshotBytes", d.MaxSnapshotBytes},
		{"MaxInboundSnapshots", int64(d.MaxInboundSnapshots)},
		{"DialTimeout", int64(d.DialTimeout)},
		{"BackoffInitial", int64(d.BackoffInitial)},
		{"BackoffMax", int64(d.BackoffMax)},
		{"KeepaliveInterval", int64(d.KeepaliveInterval)},
		{"KeepaliveTimeout", int64(d.KeepaliveTimeout)},
		{"PingInterval", int64(d.PingInterval)},
		{"SnapshotChunkTimeout", int64(d.SnapshotChunkTimeout)},
	} {
		if f.v < 0 {
			bad("%s is negative (%d)", f.name, f.v)
		}
	}
	if d.MaxFrameBytes > 0 && d.MaxFrameBytes <= 2*frameSlackBytes {
		bad("MaxFrameBytes %d is below the minimum %d", d.MaxFrameBytes, 2*frameSlackBytes+1)
	}
	if d.MaxBatchBytes > d.MaxFrameBytes {
		bad("MaxBatchBytes %d exceeds MaxFrameBytes %d", d.MaxBatchBytes, d.MaxFrameBytes)
	}
	if d.SnapshotChunkBytes+frameSlackBytes > d.MaxFrameBytes {
		bad("SnapshotChunkBytes %d + %d exceeds MaxFrameBytes %d", d.SnapshotChunkBytes, frameSlackBytes, d.MaxFrameBytes)
	}
	if d.BackoffInitial > d.BackoffMax {
		bad("BackoffInitial %v exceeds BackoffMax %v", d.BackoffInitial, d.BackoffMax)
	}
	if d.BackoffJitter < 0 || d.BackoffJitter > 1 {
		bad("BackoffJitter %v is outside [0, 1]", d.BackoffJitter)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("grpctransport: invalid config: %w", errors.Join(errs...))
}
