package tracker

import "fmt"

// inflight is one MsgApp sent but not yet acknowledged.
type inflight struct {
	index uint64 // index of the last entry in the message
	bytes uint64 // payload size of the entries in the message
}

// Inflights is the window of MsgApp messages sent to one follower but not yet
// acknowledged. It is bounded by a message count and, optionally, by a total
// payload size, so that a slow follower cannot make the leader buffer an
// unbounded amount of data.
//
// It is a ring buffer of (index, bytes) pairs that grows lazily up to the
// count limit, so idle followers cost little memory.
type Inflights struct {
	start int    // position in buffer of the oldest inflight
	count int    // number of inflights. Invariant: 0 <= count <= maxCount
	bytes uint64 // sum of the bytes of the inflights

	maxCount int    // Invariant: maxCount > 0
	maxBytes uint64 // 0 means no byte limit

	// buffer holds the inflights from start, wrapping around its end.
	// Invariant: len(buffer) <= maxCount, and indexes strictly increase from
	// the oldest inflight to the newest.
	buffer []inflight
}

// NewInflights returns an empty window that holds at most maxCount messages
// and, when maxBytes is non-zero, stops accepting messages once the bytes in
// flight reach maxBytes. It panics if maxCount is not positive: such a window
// could never send anything.
func NewInflights(maxCount int, maxBytes uint64) *Inflights {
	if maxCount <= 0 {
		panic(fmt.Sprintf("tracker: inflight window of %d messages, want at least 1", maxCount))
	}
	return &Inflights{maxCount: maxCount, maxBytes: maxBytes}
}

// Clone returns a deep copy of in.
func (in *Inflights) Clone() *Inflights {
	c := *in
	c.buffer = append([]inflight(nil), in.buffer...)
	return &c
}

// Add records a MsgApp whose last entry is index and whose payload is bytes
// long. It panics if the window is full or if index is not greater than the
// newest index in flight: the caller must check Full first, and messages in
// StateReplicate carry ever higher indexes.
func (in *Inflights) Add(index, bytes uint64) {
	if in.Full() {
		panic(fmt.Sprintf("tracker: Add(%d, %d) to full inflights: count %d/%d, bytes %d/%d",
			index, bytes, in.count, in.maxCount, in.bytes, in.maxBytes))
	}
	if in.count > 0 {
		if last := in.buffer[in.pos(in.count-1)].index; index <= last {
			panic(fmt.Sprintf("tracker: Add(%d, %d) after inflight index %d, want increasing indexes",
				index, bytes, last))
		}
	}
	if in.count == len(in.buffer) {
		in.grow()
	}
	in.buffer[in.pos(in.count)] = inflight{index: index, bytes: bytes}
	in.count++
	in.bytes += bytes
}

// pos returns the buffer position of the i-th oldest inflight.
func (in *Inflights) pos(i int) int {
	p := in.start + i
	if p >= len(in.buffer) {
		p -= len(in.buffer)
	}
	return p
}

// grow doubles the buffer, up to maxCount, and unwraps the ring so that the
// oldest inflight sits at position 0.
func (in *Inflights) grow() {
	size := min(max(2*len(in.buffer), 1), in.maxCount)
	buf := make([]inflight, size)
	n := copy(buf, in.buffer[in.start:])
	copy(buf[n:], in.buffer[:in.start])
	in.buffer = buf
	in.start = 0
}

// FreeLE frees every inflight whose index is at most to: the follower has
// acknowledged them.
func (in *Inflights) FreeLE(to uint64) {
	for in.count > 0 && in.buffer[in.start].index <= to {
		in.bytes -= in.buffer[in.start].bytes
		in.count--
		in.start++
		if in.start == len(in.buffer) {
			in.start = 0
		}
	}
	if in.count == 0 {
		// Restarting at 0 keeps the ring from wrapping needlessly.
		in.start = 0
	}
}

// FreeFirstOne frees the oldest inflight, if any. The leader calls it when
// a follower answers a heartbeat while its window is full: the messages in
// flight may have been lost, and one more message lets replication find out
// (the follower extends its log or rejects, which restarts probing) without
// resending what may only be delayed.
func (in *Inflights) FreeFirstOne() {
	if in.count > 0 {
		in.FreeLE(in.buffer[in.start].index)
	}
}

// Full reports whether no more messages may be sent: either the count limit
// is reached, or a byte limit is set and the bytes in flight reach it. A
// single message may overshoot the byte limit; the window is then full until
// acknowledgements free enough bytes.
func (in *Inflights) Full() bool {
	return in.count == in.maxCount || (in.maxBytes != 0 && in.bytes >= in.maxBytes)
}

// Count returns the number of messages in flight.
func (in *Inflights) Count() int { return in.count }

// Bytes returns the total payload size of the messages in flight.
func (in *Inflights) Bytes() uint64 { return in.bytes }

// Reset forgets every message in flight, keeping the buffer for reuse.
func (in *Inflights) Reset() {
	in.start = 0
	in.count = 0
	in.bytes = 0
}
