package grpctransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ironraft/ironraft/raftpb"
)

// laneState says whether a lane takes messages.
type laneState uint8

const (
	// laneConnecting: the first stream is being opened; messages queue.
	laneConnecting laneState = iota
	// laneUp: a stream's handshake was accepted; messages queue.
	laneUp
	// laneDown: the last stream or attempt failed; messages are dropped
	// until a handshake is accepted again.
	laneDown
)

// perMessageSlackBytes is what a message adds to a frame beyond its own
// encoding: a tag and a length of up to ten bytes.
const perMessageSlackBytes = 11

// lane is one peer's queue and stream for one kind of message. Its run
// goroutine owns the stream; Send calls enqueue.
type lane struct {
	t       *Transport
	p       *peer
	kind    Lane
	maxMsgs int

	// wake holds one token when the queue may be non-empty; a full channel
	// already says so, so a send that finds it full is dropped.
	wake chan struct{}

	mu    sync.Mutex
	state laneState
	// queue holds the messages not yet written, in Send order, with their
	// encoded sizes. Invariant: len(queue) <= maxMsgs, and bytes (the sum
	// of the sizes) <= Config.MaxQueuedBytes unless len(queue) == 1.
	queue []queued
	bytes int
}

type queued struct {
	m    *raftpb.Message
	size int
}

func newLane(t *Transport, p *peer, kind Lane, maxMsgs int) *lane {
	return &lane{t: t, p: p, kind: kind, maxMsgs: maxMsgs, wake: make(chan struct{}, 1)}
}

// enqueue queues m, whose encoded size is size, and reports whether it
// did: not when the lane is down or its queue full.
func (l *lane) enqueue(m *raftpb.Message, size int) bool {
	l.mu.Lock()
	ok := l.state != laneDown && len(l.queue) < l.maxMsgs &&
		(len(l.queue) == 0 || l.bytes+size <= l.t.cfg.MaxQueuedBytes)
	if ok {
		l.queue = append(l.queue, queued{m, size})
		l.bytes += size
	}
	l.mu.Unlock()
	if ok {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return ok
}

// take removes and returns the oldest queued messages that fit in one
// frame of Config.MaxBatchBytes (at least one, if any is queued), and
// their encoded size.
func (l *lane) take() ([]*raftpb.Message, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, bytes := 0, 0
	for n < len(l.queue) {
		s := l.queue[n].size + perMessageSlackBytes
		if n > 0 && bytes+s > l.t.cfg.MaxBatchBytes {
			break
		}
		bytes += s
		n++
	}
	if n == 0 {
		return nil, 0
	}
	batch := make([]*raftpb.Message, n)
	for i := range batch {
		batch[i] = l.queue[i].m
		l.bytes -= l.queue[i].size
	}
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	return batch, bytes
}

// setState sets the lane's state and returns the state it replaced and how
// many queued messages it dropped: all of them when the lane goes down.
func (l *lane) setState(s laneState) (prev laneState, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, l.state = l.state, s
	if s != laneDown {
		return prev, 0
	}
	dropped = len(l.queue)
	clear(l.queue)
	l.queue, l.bytes = l.queue[:0], 0
	return prev, dropped
}

// run keeps a stream open to the peer until ctx is done, reconnecting with
// backoff after every failure.
func (l *lane) run(ctx context.Context) {
	log := l.t.log.With("peer", l.p.id, "addr", l.p.addr, "lane", l.kind)
	attempt := 0
	wasUp := true // so that the first failure is logged loudly
	for {
		up, err := l.stream(ctx)
		if ctx.Err() != nil {
			l.setState(laneDown)
			return
		}
		if _, dropped := l.setState(laneDown); dropped > 0 {
			l.t.obs.OnDropped(l.p.id, l.kind, dropped)
		}
		l.t.rep.unreachable(l.p.id)
		if up {
			attempt = 0
		}
		wait := l.t.backoff(attempt)
		attempt++
		switch {
		case status.Code(err) == codes.FailedPrecondition:
			// The peer refused us: retrying soon cannot help.
			wait = l.t.cfg.BackoffMax
			log.Error("grpctransport: peer refused the handshake; check cluster ID, node ID and version", "err", err, "retry_in", wait)
		case up || wasUp:
			log.Warn("grpctransport: stream to peer failed; dropping its queue and reconnecting", "err", err, "retry_in", wait)
		default:
			log.Debug("grpctransport: reconnecting to peer failed", "err", err, "retry_in", wait)
		}
		wasUp = up
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// stream opens one stream, runs it until it fails or ctx is done, and
// reports whether its handshake was accepted.
func (l *lane) stream(ctx context.Context) (up bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := l.open(ctx, cancel)
	if err != nil {
		return false, err
	}
	if prev, _ := l.setState(laneUp); prev == laneDown {
		l.t.log.Info("grpctransport: reconnected to peer", "peer", l.p.id, "addr", l.p.addr, "lane", l.kind)
	} else {
		l.t.log.Debug("grpctransport: connected to peer", "peer", l.p.id, "addr", l.p.addr, "lane", l.kind)
	}

	pings := &pinger{}
	// readErr carries the reader's one result; capacity one so that the
	// reader never blocks on it.
	readErr := make(chan error, 1)
	var reader sync.WaitGroup
	reader.Go(func() { readErr <- l.readAcks(s, pings) })
	err = l.pump(ctx, s, pings, readErr)
	cancel() // ends the reader's Recv
	reader.Wait()
	return true, err
}

// open opens a stream and completes its handshake within
// Config.DialTimeout; cancel cancels ctx.
func (l *lane) open(ctx context.Context, cancel context.CancelFunc) (raftStream, error) {
	timer := time.AfterFunc(l.t.cfg.DialTimeout, cancel)
	s, err := l.p.client.Stream(ctx)
	if err == nil {
		err = s.Send(&Frame{Handshake: l.t.handshake(l.p.id, l.kind)})
		var ack *Ack
		if err == nil || errors.Is(err, io.EOF) {
			// After io.EOF, Recv returns the status the server ended with.
			ack, err = s.Recv()
		}
		if err == nil && ack.GetPing() != 0 {
			err = fmt.Errorf("grpctransport: peer answered the handshake with ping %d", ack.GetPing())
		}
	}
	if !timer.Stop() && ctx.Err() != nil {
		return nil, fmt.Errorf("grpctransport: no handshake within %v: %w", l.t.cfg.DialTimeout, ctx.Err())
	}
	return s, err
}

// raftStream is the client side of a Stream RPC.
type raftStream = RaftTransport_StreamClient

// pump writes the queue to s until s fails or ctx is done. On the control
// lane it also sends a ping every Config.PingInterval.
func (l *lane) pump(ctx context.Context, s raftStream, pings *pinger, readErr <-chan error) error {
	var tick <-chan time.Time
	if l.kind == LaneControl {
		ticker := time.NewTicker(l.t.cfg.PingInterval)
		defer ticker.Stop()
		tick = ticker.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return err
		case <-tick:
			if seq, ok := pings.start(); ok {
				if err := s.Send(&Frame{Ping: seq}); err != nil {
					return l.sendErr(err, readErr)
				}
			}
		case <-l.wake:
		}
		for {
			batch, bytes := l.take()
			if len(batch) == 0 {
				break
			}
			if err := s.Send(&Frame{Messages: batch}); err != nil {
				l.t.obs.OnDropped(l.p.id, l.kind, len(batch))
				return l.sendErr(err, readErr)
			}
			l.t.obs.OnSent(l.p.id, l.kind, len(batch), bytes)
		}
	}
}

// sendErr returns why a Send failed: after io.EOF, the status the server
// ended the stream with, which the reader receives.
func (l *lane) sendErr(err error, readErr <-chan error) error {
	if errors.Is(err, io.EOF) {
		return <-readErr
	}
	return err
}

// readAcks receives the server's acks until the stream ends, reporting
// round-trip times, and returns why it ended.
func (l *lane) readAcks(s raftStream, pings *pinger) error {
	for {
		ack, err := s.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("grpctransport: peer ended the stream")
			}
			return err
		}
		if d, ok := pings.done(ack.GetPing()); ok {
			l.t.obs.OnRTT(l.p.id, d)
		}
	}
}

// pinger tracks the one ping a stream may have outstanding.
type pinger struct {
	mu          sync.Mutex
	seq         uint64
	sent        time.Time
	outstanding bool
}

// start returns the number of a new ping, unless one is outstanding.
func (p *pinger) start() (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.outstanding {
		return 0, false
	}
	p.seq++
	p.sent, p.outstanding = time.Now(), true
	return p.seq, true
}

// done returns the round-trip time of ping seq, if it is the outstanding
// one.
func (p *pinger) done(seq uint64) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.outstanding || seq != p.seq {
		return 0, false
	}
	p.outstanding = false
	return time.Since(p.sent), true
}
