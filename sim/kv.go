package sim

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/ironraft/ironraft/internal/check"
	ironnode "github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

var sprintf = fmt.Sprintf

// kvState is a node's state machine: a map of keys to values and the set
// of ops already applied. A client op may be in the log more than once (a
// duplicated forwarded proposal is appended twice); like a real client
// session table, the state machine applies each (client, op) once.
//
// The node's Replica drives it through ironnode.StateMachine: it restores
// it from snapshots and applies the commands of committed entries (without
// the runtime's envelope).
type kvState struct {
	vals map[string]string
	done map[uint64]struct{}
	// onPut, if not nil, learns every command that takes effect (is not a
	// duplicate), in log order.
	onPut func(check.KVCommand)
	// restores counts Restore calls.
	restores int
}

var _ ironnode.StateMachine = (*kvState)(nil)

func newKVState(onPut func(check.KVCommand)) *kvState {
	return &kvState{vals: map[string]string{}, done: map[uint64]struct{}{}, onPut: onPut}
}

func opKey(client, op uint32) uint64 { return uint64(client)<<32 | uint64(op) }

// apply applies cmd and reports whether it took effect (false for a
// duplicate).
func (kv *kvState) apply(cmd check.KVCommand) bool {
	k := opKey(cmd.Client, cmd.Op)
	if _, ok := kv.done[k]; ok {
		return false
	}
	kv.done[k] = struct{}{}
	kv.vals[cmd.Key] = cmd.Value
	return true
}

// Apply applies committed commands. The result of a KV command is its op
// key (opKey), so that the simulator can check that the runtime completes
// each proposal with its own entry; anything else is ignored (nil).
func (kv *kvState) Apply(cmds []ironnode.Command) []any {
	res := make([]any, len(cmds))
	for i, c := range cmds {
		cmd, ok := check.DecodeKVCommand(c.Data)
		if !ok {
			continue
		}
		res[i] = opKey(cmd.Client, cmd.Op)
		if kv.apply(cmd) && kv.onPut != nil {
			kv.onPut(cmd)
		}
	}
	return res
}

// Snapshot returns the state serialized at once: the simulator is
// single-threaded, so the view need not share anything with later Apply
// calls.
func (kv *kvState) Snapshot() (ironnode.SnapshotView, error) { return kvView(kv.encode()), nil }

// Restore replaces the state (not onPut) with one written by a
// SnapshotView.
func (kv *kvState) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("sim: read the snapshot: %w", err)
	}
	restored, err := decodeKV(b)
	if err != nil {
		return err
	}
	kv.vals, kv.done = restored.vals, restored.done
	kv.restores++
	return nil
}

// kvView is a serialized kvState.
type kvView []byte

func (v kvView) Write(w io.Writer) error {
	_, err := w.Write(v)
	return err
}

func (kvView) Release() {}

// overlay is a node's log while a Ready is being persisted: the durable log
// with the Ready's entries on top. It implements check.Log.
type overlay struct {
	base check.Log
	ents []*raftpb.Entry
}

func (o overlay) FirstIndex() (uint64, error) { return o.base.FirstIndex() }

func (o overlay) LastIndex() (uint64, error) {
	if n := len(o.ents); n > 0 {
		return o.ents[n-1].Index, nil
	}
	return o.base.LastIndex()
}

func (o overlay) Term(i uint64) (uint64, error) {
	if n := len(o.ents); n > 0 && i >= o.ents[0].Index {
		if i > o.ents[n-1].Index {
			return 0, raft.ErrUnavailable
		}
		return o.ents[i-o.ents[0].Index].Term, nil
	}
	return o.base.Term(i)
}

func (o overlay) Entries(lo, hi, _ uint64) ([]*raftpb.Entry, error) {
	var out []*raftpb.Entry
	for i := lo; i < hi; i++ {
		if n := len(o.ents); n > 0 && i >= o.ents[0].Index && i <= o.ents[n-1].Index {
			out = append(out, o.ents[i-o.ents[0].Index])
			continue
		}
		e, err := o.base.Entries(i, i+1, math.MaxUint64)
		if err != nil {
			return nil, err
		}
		out = append(out, e...)
	}
	return out, nil
}

// encode serializes the state machine for a snapshot: the values by key,
// then the applied ops, in sorted order so that equal states encode
// equally.
func (kv *kvState) encode() []byte {
	keys := make([]string, 0, len(kv.vals))
	for k := range kv.vals {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := binary.AppendUvarint(nil, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, kv.vals[k])
	}
	done := make([]uint64, 0, len(kv.done))
	for k := range kv.done {
		done = append(done, k)
	}
	slices.Sort(done)
	b = binary.AppendUvarint(b, uint64(len(done)))
	for _, k := range done {
		b = binary.AppendUvarint(b, k)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeKV decodes a state machine serialized by encode; empty data is the
// empty state.
func decodeKV(b []byte) (*kvState, error) {
	kv := newKVState(nil)
	if len(b) == 0 {
		return kv, nil
	}
	bad := fmt.Errorf("sim: snapshot data: malformed (%d bytes)", len(b))
	next := func() (uint64, bool) {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return x, true
	}
	str := func() (string, bool) {
		n, ok := next()
		if !ok || n > uint64(len(b)) {
			return "", false
		}
		s := string(b[:n])
		b = b[n:]
		return s, true
	}
	nk, ok := next()
	if !ok {
		return nil, bad
	}
	for i := uint64(0); i < nk; i++ {
		k, ok1 := str()
		v, ok2 := str()
		if !ok1 || !ok2 {
			return nil, bad
		}
		kv.vals[k] = v
	}
	nd, ok := next()
	if !ok {
		return nil, bad
	}
	for i := uint64(0); i < nd; i++ {
		k, ok := next()
		if !ok {
			return nil, bad
		}
		kv.done[k] = struct{}{}
	}
	if len(b) != 0 {
		return nil, bad
	}
	return kv, nil
}
