package sim

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ironraft/ironraft/internal/check"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// trKind says what a trace record describes.
type trKind uint8

const (
	trDeliver trKind = iota // msg delivered (a=from, b=to)
	trDrop                  // msg dropped (c: drop reason)
	trDup                   // msg duplicated
	trRole                  // node a became role c in term b (d = leader)
	trPersist               // node a persisted entries [c..d] (b = 1 if HardState)
	trApply                 // node a applied [c..d]
	trCrash                 // node a crashed (b = 1 if an fsync was in flight)
	trRestart               // node a restarted
	trNote                  // free text in s (partitions, client ops, phases)
)

// drop reasons
const (
	dropRandom uint64 = iota
	dropPartition
	dropDown
	dropHeld
	dropSenderCrashed
	dropUnfavored
)

var dropReasons = [...]string{"lossy network", "partition", "node down", "held back: new-term entries", "sender crashed: in-flight messages lost",
	"vote request of a candidate the Figure 8 script does not favor"}

// trRec is one trace record. It is formatted only when printed.
type trRec struct {
	at         int64
	kind       trKind
	a, b, c, d uint64
	msg        *raftpb.Message
	s          string
}

// tracer keeps the hash of every record, the last traceTail records and,
// if asked, all of them.
type tracer struct {
	hash uint64
	ring [traceTail]trRec
	n    int // records so far
	all  []trRec
	keep bool
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (t *tracer) mix(x uint64) {
	for i := 0; i < 8; i++ {
		t.hash ^= x & 0xff
		t.hash *= fnvPrime
		x >>= 8
	}
}

func (t *tracer) add(r trRec) {
	if t.n == 0 {
		t.hash = fnvOffset
	}
	t.mix(uint64(r.at))
	t.mix(uint64(r.kind))
	t.mix(r.a)
	t.mix(r.b)
	t.mix(r.c)
	t.mix(r.d)
	if m := r.msg; m != nil {
		t.mix(uint64(m.Type))
		t.mix(m.From<<32 | m.To)
		t.mix(m.Term)
		t.mix(m.PrevLogIndex)
		t.mix(m.PrevLogTerm)
		t.mix(m.Commit)
		t.mix(uint64(len(m.Entries)))
		t.mix(m.MatchIndex)
		t.mix(m.ReadId)
		t.mix(m.ReadIndex)
		t.mix(m.HeartbeatSeq)
	}
	for i := 0; i < len(r.s); i++ {
		t.hash ^= uint64(r.s[i])
		t.hash *= fnvPrime
	}
	t.ring[t.n%traceTail] = r
	t.n++
	if t.keep {
		t.all = append(t.all, r)
	}
}

// tail returns the last records, oldest first.
func (t *tracer) tail() []trRec {
	if t.n <= traceTail {
		return append([]trRec(nil), t.ring[:t.n]...)
	}
	i := t.n % traceTail
	return append(append([]trRec(nil), t.ring[i:]...), t.ring[:i]...)
}

func formatRecs(recs []trRec) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.String()
	}
	return out
}

func (r trRec) String() string {
	p := fmt.Sprintf("t=%d ", r.at)
	switch r.kind {
	case trDeliver:
		return p + describeMsg(r.msg)
	case trDrop:
		return p + describeMsg(r.msg) + " DROPPED (" + dropReasons[r.c] + ")"
	case trDup:
		return p + describeMsg(r.msg) + " DUPLICATED"
	case trRole:
		s := fmt.Sprintf("n%d becomes %s term=%d", r.a, raft.StateType(r.c), r.b)
		if r.d != 0 {
			s += fmt.Sprintf(" leader=%d", r.d)
		}
		return p + s
	case trPersist:
		s := fmt.Sprintf("n%d fsync done", r.a)
		if r.d >= r.c && r.c > 0 {
			s += fmt.Sprintf(" ents=[%d..%d]", r.c, r.d)
		}
		return p + s + r.s
	case trApply:
		return p + fmt.Sprintf("n%d apply [%d..%d]", r.a, r.c, r.d) + r.s
	case trCrash:
		s := fmt.Sprintf("n%d CRASH", r.a)
		if r.b == 1 {
			s += " (fsync in flight: its Ready is lost)"
		}
		return p + s
	case trRestart:
		return p + fmt.Sprintf("n%d RESTART", r.a) + r.s
	}
	return p + r.s
}

// describeMsg renders a message as "1->2 MsgApp term=3 prev=(10,2)
// ents=[11..14] commit=9".
func describeMsg(m *raftpb.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s term=%d", m.From, m.To, m.Type, m.Term)
	switch m.Type {
	case raftpb.MsgApp:
		fmt.Fprintf(&b, " prev=(%d,%d)", m.PrevLogIndex, m.PrevLogTerm)
		if n := len(m.Entries); n > 0 {
			fmt.Fprintf(&b, " ents=[%d..%d]", m.Entries[0].Index, m.Entries[n-1].Index)
			if t := m.Entries[n-1].Term; t != m.Term {
				fmt.Fprintf(&b, "(last term %d)", t)
			}
		}
		fmt.Fprintf(&b, " commit=%d", m.Commit)
	case raftpb.MsgAppResp:
		if m.Reject {
			fmt.Fprintf(&b, " REJECT rejected=%d hint=(%d,%d)", m.RejectedIndex, m.HintIndex, m.HintTerm)
		} else {
			fmt.Fprintf(&b, " match=%d", m.MatchIndex)
		}
	case raftpb.MsgVote, raftpb.MsgPreVote:
		fmt.Fprintf(&b, " last=(%d,%d)", m.LastLogIndex, m.LastLogTerm)
	case raftpb.MsgVoteResp, raftpb.MsgPreVoteResp:
		if m.Reject {
			b.WriteString(" REJECT")
		} else {
			b.WriteString(" granted")
		}
	case raftpb.MsgHeartbeat:
		fmt.Fprintf(&b, " commit=%d seq=%d", m.Commit, m.HeartbeatSeq)
	case raftpb.MsgHeartbeatResp:
		fmt.Fprintf(&b, " seq=%d", m.HeartbeatSeq)
	case raftpb.MsgProp:
		for _, e := range m.Entries {
			b.WriteString(" " + describeEntryData(e.Data))
		}
	case raftpb.MsgReadIndex:
		fmt.Fprintf(&b, " id=%d", m.ReadId)
	case raftpb.MsgReadIndexResp:
		fmt.Fprintf(&b, " id=%d index=%d", m.ReadId, m.ReadIndex)
		if m.Reject {
			b.WriteString(" REJECT")
		}
	case raftpb.MsgSnap:
		md := m.Snapshot.GetMetadata()
		fmt.Fprintf(&b, " snap=(%d,%d)", md.GetIndex(), md.GetTerm())
	}
	return b.String()
}

// describeEntryData renders the data of a normal entry: "noop", or the
// command inside the runtime's envelope (version 1, uvarint origin node,
// uvarint proposal ID, command; see node/envelope.go) with its origin, or
// its length.
func describeEntryData(b []byte) string {
	if len(b) == 0 || b[0] != 1 {
		return check.DescribeData(b)
	}
	origin, k := binary.Uvarint(b[1:])
	if k <= 0 {
		return check.DescribeData(b)
	}
	_, j := binary.Uvarint(b[1+k:])
	if j <= 0 {
		return check.DescribeData(b)
	}
	return fmt.Sprintf("%s@n%d", check.DescribeData(b[1+k+j:]), origin)
}
