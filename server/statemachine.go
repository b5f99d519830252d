package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/kv"
	"github.com/ironraft/ironraft/node"
)

// Command kinds: the first byte of every command the server proposes (the
// rest is the payload, see the package doc).
const (
	// kindKV: an etcdserverpb.InternalRaftRequest for kv.Store.
	kindKV byte = 1
	// kindPublish: a membershippb.Member carrying a member's name, client
	// URLs and peer URLs, which it proposes after every start. The peer
	// URLs are taken only if the table has none for the member.
	kindPublish byte = 2
	// kindMemberAdded: a membershippb.Member carrying the peer URLs of a
	// member being added (MemberAdd); RaftAttributes.IsLearner false means
	// it is to be promoted once it caught up.
	kindMemberAdded byte = 3
	// kindMemberForget: a membershippb.Member whose ID is to be dropped
	// from the member table (after MemberRemove).
	kindMemberForget byte = 4
)

// errBadCommand is the result of a command the state machine cannot
// decode. Every member refuses it alike, and nothing changes.
var errBadCommand = errors.New("server: undecodable command")

// memberAttrs is what the member table knows of one member beyond what
// Raft knows (its ID, whether it votes, its transport address).
type memberAttrs struct {
	id         uint64
	name       string
	peerURLs   []string
	clientURLs []string
	// promote: the member was added as a voter (MemberAdd without
	// IsLearner) and joined as a learner; the leader promotes it once it
	// has caught up.
	promote bool
}

// stateMachine is the node.StateMachine of an ironkv member: the kv store
// plus the member table, applied from the same log and snapshotted
// together.
type stateMachine struct {
	kv *kv.Store

	// mu guards members. Apply and Restore write; RPC handlers read.
	mu      sync.RWMutex
	members map[uint64]*memberAttrs
}

var _ node.StateMachine = (*stateMachine)(nil)

func newStateMachine(store *kv.Store) *stateMachine {
	return &stateMachine{kv: store, members: make(map[uint64]*memberAttrs)}
}

// result is what Apply returns for each command: the etcd response (or nil)
// and the error etcd would give.
type result struct {
	resp any
	err  error
}

// Apply applies committed commands in log order. Every command advances
// the kv store's applied index, whatever its kind.
func (sm *stateMachine) Apply(cmds []node.Command) []any {
	out := make([]any, len(cmds))
	for i, c := range cmds {
		out[i] = sm.applyOne(c)
	}
	return out
}

func (sm *stateMachine) applyOne(c node.Command) result {
	if len(c.Data) == 0 {
		_, err := sm.kv.Apply(c.Index, nil)
		return result{err: err}
	}
	kind, payload := c.Data[0], c.Data[1:]
	if kind == kindKV {
		resp, err := sm.kv.Apply(c.Index, payload)
		return result{resp: resp, err: err}
	}
	if _, err := sm.kv.Apply(c.Index, nil); err != nil {
		return result{err: err}
	}
	m := &membershippb.Member{}
	if err := proto.Unmarshal(payload, m); err != nil || m.ID == 0 {
		return result{err: errBadCommand}
	}
	sm.mu.Lock()
	defer sm.mu.Unlock()
	switch kind {
	case kindPublish:
		a := sm.entry(m.ID)
		a.name = m.GetMemberAttributes().GetName()
		a.clientURLs = slices.Clone(m.GetMemberAttributes().GetClientUrls())
		// Peer URLs change only through membership (MemberAdd); a publish
		// fills them in for the initial members, which were never added.
		if urls := m.GetRaftAttributes().GetPeerUrls(); len(a.peerURLs) == 0 {
			a.peerURLs = slices.Clone(urls)
		}
	case kindMemberAdded:
		a := sm.entry(m.ID)
		a.peerURLs = slices.Clone(m.GetRaftAttributes().GetPeerUrls())
		a.promote = !m.GetRaftAttributes().GetIsLearner()
	case kindMemberForget:
		delete(sm.members, m.ID)
	default:
		return result{err: errBadCommand}
	}
	return result{}
}

// entry returns the table entry for id, creating it. The caller holds mu.
func (sm *stateMachine) entry(id uint64) *memberAttrs {
	a, ok := sm.members[id]
	if !ok {
		a = &memberAttrs{id: id}
		sm.members[id] = a
	}
	return a
}

// member returns a copy of the table entry for id.
func (sm *stateMachine) member(id uint64) (memberAttrs, bool) {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	a, ok := sm.members[id]
	if !ok {
		return memberAttrs{}, false
	}
	return *a, true
}

// memberTable returns copies of every entry, by ID.
func (sm *stateMachine) memberTable() []memberAttrs {
	sm.mu.RLock()
	defer sm.mu.RUnlock()
	out := make([]memberAttrs, 0, len(sm.members))
	for _, id := range slices.Sorted(maps.Keys(sm.members)) {
		out = append(out, *sm.members[id])
	}
	return out
}

// Snapshot returns a view of the member table and the kv store as of the
// last command applied. Both are taken on the apply goroutine, so they
// agree.
func (sm *stateMachine) Snapshot() (node.SnapshotView, error) {
	return &snapshotView{members: sm.memberTable(), kv: sm.kv.Snapshot()}, nil
}

// Restore replaces the member table and the kv store with a snapshot's.
// Nothing changes if the snapshot is bad.
func (sm *stateMachine) Restore(r io.Reader) error {
	br := bufio.NewReader(r)
	members, err := readMembersSection(br)
	if err != nil {
		return err
	}
	if err := sm.kv.Restore(br); err != nil {
		return fmt.Errorf("server: restore the kv store: %w", err)
	}
	table := make(map[uint64]*memberAttrs, len(members))
	for i := range members {
		table[members[i].id] = &members[i]
	}
	sm.mu.Lock()
	sm.members = table
	sm.mu.Unlock()
	return nil
}

type snapshotView struct {
	members []memberAttrs
	kv      *kv.Snapshot
}

func (v *snapshotView) Write(w io.Writer) error {
	if err := writeMembersSection(w, v.members); err != nil {
		return err
	}
	return v.kv.Write(w)
}

func (v *snapshotView) Release() { v.kv.Release() }

// encodeCommand returns kind followed by m's wire form.
func encodeCommand(kind byte, m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("server: encode command: %w", err)
	}
	return append([]byte{kind}, b...), nil
}

// encodeKV returns the command for an etcd request and the size etcd's
// --max-request-bytes is checked against (the InternalRaftRequest's).
func encodeKV(r *pb.InternalRaftRequest) ([]byte, int, error) {
	b, err := kv.Encode(r)
	if err != nil {
		return nil, 0, err
	}
	return append([]byte{kindKV}, b...), len(b), nil
}
