package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/ironraft/ironraft/raftpb"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// snapshotField is raftpb.Message's snapshot field.
var snapshotField = (&raftpb.Message{}).ProtoReflect().Descriptor().Fields().ByName("snapshot")

// runSnapshots streams the MsgSnap handed to p one at a time until ctx is
// done, and reports each outcome.
func (t *Transport) runSnapshots(ctx context.Context, p *peer) {
	for {
		select {
		case <-ctx.Done():
			// A MsgSnap accepted by Send but not started yet: every Send
			// that found p has returned (see stopPeer).
			select {
			case m := <-p.snapc:
				t.log.Warn("grpctransport: snapshot cancelled before it started", "peer", p.id, "term", m.GetTerm())
				p.snapBusy.Store(false)
				t.rep.snapshot(p.id, false)
			default:
			}
			return
		case m := <-p.snapc:
			start := time.Now()
			md := m.GetSnapshot().GetMetadata()
			err := t.streamSnapshot(ctx, p, m)
			// Clear busy before reporting, so that a caller who saw the
			// report may send the next snapshot.
			p.snapBusy.Store(false)
			t.rep.snapshot(p.id, err == nil)
			if err != nil {
				t.log.Warn("grpctransport: sending snapshot failed", "peer", p.id, "term", m.GetTerm(),
					"index", md.GetIndex(), "bytes", len(m.GetSnapshot().GetData()), "err", err)
				continue
			}
			t.log.Info("grpctransport: sent snapshot", "peer", p.id, "term", m.GetTerm(), "index", md.GetIndex(),
				"bytes", len(m.GetSnapshot().GetData()), "duration", time.Since(start))
		}
	}
}

// streamSnapshot sends m on a Snapshot RPC and returns nil once the peer
// acknowledged it.
func (t *Transport) streamSnapshot(ctx context.Context, p *peer, m *raftpb.Message) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stalled atomic.Bool
	stall := time.AfterFunc(t.cfg.SnapshotChunkTimeout, func() {
		stalled.Store(true)
		cancel()
	})
	defer stall.Stop()
	err := t.writeSnapshot(ctx, p, m, func() { stall.Reset(t.cfg.SnapshotChunkTimeout) })
	if err != nil && stalled.Load() {
		return fmt.Errorf("grpctransport: snapshot stalled for %v: %w", t.cfg.SnapshotChunkTimeout, err)
	}
	return err
}

// writeSnapshot does the work of streamSnapshot, calling progress before
// each write.
func (t *Transport) writeSnapshot(ctx context.Context, p *peer, m *raftpb.Message, progress func()) error {
	data := m.GetSnapshot().GetData()
	hdr := &SnapshotHeader{
		Handshake: t.handshake(p.id, LaneSnapshot),
		Message:   withoutSnapshotData(m),
		SizeBytes: uint64(len(data)),
		Crc32C:    crc32.Checksum(data, castagnoli),
	}
	s, err := p.client.Snapshot(ctx)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		if errors.Is(err, io.EOF) { // the server ended the RPC; ask why
			_, err = s.CloseAndRecv()
		}
		return err
	}
	if err := s.Send(&SnapshotChunk{Header: hdr}); err != nil {
		return fail(err)
	}
	t.obs.OnSent(p.id, LaneSnapshot, 1, proto.Size(hdr))
	for i, off := 0, 0; off < len(data); i++ {
		end := min(off+t.cfg.SnapshotChunkBytes, len(data))
		chunk := data[off:end]
		progress()
		if err := s.Send(&SnapshotChunk{Data: chunk, Crc32C: crc32.Checksum(chunk, castagnoli)}); err != nil {
			return fail(err)
		}
		t.obs.OnSent(p.id, LaneSnapshot, 0, len(chunk))
		if t.hooks.snapshotChunkSent != nil {
			t.hooks.snapshotChunkSent(p.id, i)
		}
		off = end
	}
	progress()
	_, err = s.CloseAndRecv()
	return err
}

// withoutSnapshotData returns a shallow copy of m whose snapshot has
// m's metadata and no data. m is not modified.
func withoutSnapshotData(m *raftpb.Message) *raftpb.Message {
	out := &raftpb.Message{}
	dst := out.ProtoReflect()
	m.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd != snapshotField {
			dst.Set(fd, v)
		}
		return true
	})
	out.Snapshot = &raftpb.Snapshot{Metadata: m.GetSnapshot().GetMetadata()}
	return out
}

// snapshotAssembler checks and reassembles an inbound snapshot. Its errors
// are gRPC status errors, sent to the peer as they are.
type snapshotAssembler struct {
	m    *raftpb.Message // from the header, without data
	size uint64          // total data size the header announced
	crc  uint32          // CRC-32C of all data, from the header
	sum  uint32          // CRC-32C of data so far
	// data is what arrived so far. Invariant: len(data) <= size, and
	// cap(data) <= size.
	data []byte
}

// newSnapshotAssembler checks header h for a snapshot to node self of at
// most maxBytes, and preallocates at most preallocBytes of buffer.
func newSnapshotAssembler(h *SnapshotHeader, self uint64, maxBytes int64, preallocBytes int) (*snapshotAssembler, error) {
	m := h.GetMessage()
	err := checkPeerMessage(m, h.GetHandshake().GetFrom(), self)
	switch {
	case err != nil:
	case m.GetType() != raftpb.MsgSnap:
		err = fmt.Errorf("grpctransport: %v on the snapshot RPC", m.GetType())
	case m.GetSnapshot() == nil:
		err = errors.New("grpctransport: MsgSnap without snapshot metadata")
	case len(m.GetSnapshot().GetData()) > 0:
		err = errors.New("grpctransport: snapshot data inside the header")
	}
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	size := h.GetSizeBytes()
	if size > uint64(maxBytes) {
		return nil, status.Errorf(codes.ResourceExhausted, "grpctransport: snapshot of %d bytes exceeds the limit of %d", size, maxBytes)
	}
	return &snapshotAssembler{
		m:    m,
		size: size,
		crc:  h.GetCrc32C(),
		data: make([]byte, 0, min(size, uint64(preallocBytes))),
	}, nil
}

// add checks and appends one chunk.
func (a *snapshotAssembler) add(c *SnapshotChunk) error {
	d := c.GetData()
	switch {
	case c.GetHeader() != nil:
		return status.Error(codes.InvalidArgument, "grpctransport: snapshot header repeated")
	case len(d) == 0:
		return status.Error(codes.InvalidArgument, "grpctransport: empty snapshot chunk")
	}
	off := uint64(len(a.data))
	if sum := crc32.Checksum(d, castagnoli); sum != c.GetCrc32C() {
		return status.Errorf(codes.DataLoss, "grpctransport: snapshot chunk at offset %d: checksum %08x, want %08x", off, sum, c.GetCrc32C())
	}
	if uint64(len(d)) > a.size-off {
		return status.Errorf(codes.DataLoss, "grpctransport: snapshot data exceeds the announced %d bytes", a.size)
	}
	if need := len(a.data) + len(d); need > cap(a.data) {
		// Grow by doubling, but never past the announced size.
		grown := make([]byte, len(a.data), min(a.size, uint64(max(2*cap(a.data), need))))
		copy(grown, a.data)
		a.data = grown
	}
	a.data = append(a.data, d...)
	a.sum = crc32.Update(a.sum, castagnoli, d)
	return nil
}

// finish checks the whole data and returns the reassembled MsgSnap.
func (a *snapshotAssembler) finish() (*raftpb.Message, error) {
	if n := uint64(len(a.data)); n != a.size {
		return nil, status.Errorf(codes.DataLoss, "grpctransport: snapshot stream ended after %d of %d bytes", n, a.size)
	}
	if a.sum != a.crc {
		return nil, status.Errorf(codes.DataLoss, "grpctransport: snapshot checksum %08x, want %08x", a.sum, a.crc)
	}
	a.m.Snapshot.Data = a.data
	return a.m, nil
}
