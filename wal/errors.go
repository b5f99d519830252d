package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrFailed marks every error a WAL returns after a write or fsync
	// failed: the WAL is fail-stopped (the state of the disk is unknown, so
	// it never retries) and the node must stop and recover from disk.
	ErrFailed = errors.New("wal: failed after an I/O error; stop the node and recover")
	// ErrClosed is returned by calls on a closed WAL.
	ErrClosed = errors.New("wal: closed")
	// ErrNotFound is returned by Open when dir holds no segment.
	ErrNotFound = errors.New("wal: no segment found")
	// ErrExist is returned by Create when dir already holds a segment.
	ErrExist = errors.New("wal: a WAL already exists")
)

// CorruptionError reports data on disk that recovery cannot explain by a
// crash: a bad checksum or malformed record outside the torn tail of the
// last segment, a gap or overlap in indexes, a missing segment or one out of
// sequence, or a bad segment header. The node must refuse to start.
type CorruptionError struct {
	// Segment is the segment file's name ("" when the error is about the
	// directory as a whole).
	Segment string
	// Offset is the byte offset in Segment of the bad record or header (-1
	// when the error is not about one place in a file).
	Offset int64
	// Reason says what is wrong, with the values that prove it.
	Reason string
}

func (e *CorruptionError) Error() string {
	switch {
	case e.Segment == "":
		return "wal: corrupt: " + e.Reason
	case e.Offset < 0:
		return fmt.Sprintf("wal: corrupt: segment %s: %s", e.Segment, e.Reason)
	default:
		return fmt.Sprintf("wal: corrupt: segment %s: offset %d: %s", e.Segment, e.Offset, e.Reason)
	}
}

// MismatchError reports a segment written by another node or cluster: its
// header's cluster or node ID differs from the Meta passed to Open.
type MismatchError struct {
	Segment   string
	Want, Got Meta
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("wal: segment %s belongs to cluster %x node %x, not cluster %x node %x",
		e.Segment, e.Got.ClusterID, e.Got.NodeID, e.Want.ClusterID, e.Want.NodeID)
}
