package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
)

// This file is the in-memory network behind the data-driven scenarios
// (datadriven_test.go, testdata/*.txt). It runs RawNodes over
// MemoryStorage and handles every Ready exactly as the contract on Ready
// says; messages wait in one queue until a command delivers them, so a
// scenario decides every interleaving.
//
// Notation in the golden output:
//
//	5@2            the entry at index 5 of term 2
//	3..22@2        the entries 3 to 22, all of term 2 and without data
//	5@2 "x"        an entry with data "x"
//	1->2 MsgApp    a message from node 1 to node 2
//	r1             the first read request of the scenario (read IDs are
//	               random numbers; the harness names them in order)

// harness is the simulated cluster of one scenario file.
type harness struct {
	nodes map[uint64]*hnode
	// ids lists every node ID in ascending order.
	ids []uint64
	// queue holds sent messages in send order until they are delivered or
	// dropped.
	queue []*raftpb.Message
	// group maps each node to its side of a partition; nil when healed.
	group map[uint64]int
	// readNames maps (issuing node, read ID) to a short name.
	readNames map[readKey]string
	// counts counts delivered messages by kind, for msg-counts.
	counts map[string]int
	// appliedAt holds the entry every node applied at each index, to check
	// State Machine Safety (paper §5.4.3) across the whole scenario.
	appliedAt map[uint64]*raftpb.Entry
	// leaders holds the leader of each term seen, to check Election
	// Safety (paper §5.2).
	leaders map[uint64]uint64
	// cfg holds the options of add-nodes (without ID), for add-node.
	cfg Config
}

type readKey struct{ node, id uint64 }

// hnode is one node: its durable storage outlives the RawNode.
type hnode struct {
	id uint64
	// rn is nil while the node is down.
	rn  *RawNode
	st  *MemoryStorage
	cfg Config
	// applied is the last index the node's (in-memory) state machine
	// applied; it starts from the snapshot after a restart.
	applied  uint64
	restarts uint64
}

func newHarness() *harness {
	return &harness{
		nodes:     map[uint64]*hnode{},
		readNames: map[readKey]string{},
		counts:    map[string]int{},
		appliedAt: map[uint64]*raftpb.Entry{},
		leaders:   map[uint64]uint64{},
	}
}

// start creates the node's RawNode from its storage.
func (h *harness) start(n *hnode) error {
	cfg := n.cfg
	cfg.Storage = n.st
	// Deterministic and different after every restart.
	cfg.Rand = rand.NewPCG(n.id, 1+n.restarts)
	rn, err := NewRawNode(&cfg)
	if err != nil {
		return err
	}
	n.rn = rn
	n.applied = rn.raft.raftLog.applied
	return nil
}

// summary is what transitions print: the externally visible protocol state.
type summary struct {
	up                       bool
	state                    StateType
	term, vote, lead, commit uint64
}

func (h *harness) summary(id uint64) summary {
	n := h.nodes[id]
	if n.rn == nil {
		return summary{}
	}
	r := n.rn.raft
	return summary{up: true, state: r.state, term: r.term, vote: r.vote, lead: r.lead, commit: r.raftLog.committed}
}

// diff describes how a node's summary changed, or "" if it did not.
func diff(id uint64, a, b summary) string {
	if a == b {
		return ""
	}
	if a.up != b.up {
		return fmt.Sprintf("%d: up=%t -> %t", id, a.up, b.up)
	}
	var parts []string
	if a.state != b.state {
		parts = append(parts, fmt.Sprintf("%s -> %s", a.state, b.state))
	}
	field := func(name string, x, y uint64) {
		if x != y {
			parts = append(parts, fmt.Sprintf("%s=%d -> %d", name, x, y))
		}
	}
	field("term", a.term, b.term)
	field("vote", a.vote, b.vote)
	field("lead", a.lead, b.lead)
	field("commit", a.commit, b.commit)
	return fmt.Sprintf("%d: %s", id, strings.Join(parts, ", "))
}

// processReady handles one Ready of node id exactly as the contract on
// Ready says, and describes it in b. It returns false if there was none.
func (h *harness) processReady(b *strings.Builder, id uint64) (bool, error) {
	n := h.nodes[id]
	if n.rn == nil || !n.rn.HasReady() {
		return false, nil
	}
	rd := n.rn.Ready()
	h.printReady(b, id, rd)
	configBefore := n.rn.raft.trk.Config.String()

	// 1. Messages that may leave before the write.
	h.queue = append(h.queue, rd.MessagesBeforePersist...)
	// 2. Persist snapshot, entries, hard state.
	if rd.Snapshot != nil {
		if err := n.st.ApplySnapshot(rd.Snapshot); err != nil {
			return true, fmt.Errorf("BUG: node %d: apply snapshot: %w", id, err)
		}
	}
	if err := n.st.Append(rd.Entries); err != nil {
		return true, fmt.Errorf("BUG: node %d: append: %w", id, err)
	}
	if rd.HardState != nil {
		n.st.SetHardState(rd.HardState)
	}
	// 3. Messages that promise something about the persisted state.
	h.queue = append(h.queue, rd.MessagesAfterPersist...)
	// 4. Apply.
	if rd.Snapshot != nil {
		n.applied = rd.Snapshot.GetMetadata().GetIndex()
	}
	for _, e := range rd.CommittedEntries {
		if e.GetIndex() != n.applied+1 {
			return true, fmt.Errorf("BUG: node %d applies %d after %d", id, e.GetIndex(), n.applied)
		}
		n.applied = e.GetIndex()
		if prev, ok := h.appliedAt[e.GetIndex()]; ok && (prev.GetTerm() != e.GetTerm() || string(prev.GetData()) != string(e.GetData())) {
			return true, fmt.Errorf("BUG: state machine safety: node %d applies %s at an index where %s was applied",
				id, fmtEntry(e), fmtEntry(prev))
		}
		h.appliedAt[e.GetIndex()] = e
	}
	if rd.SoftState != nil && rd.RaftState == StateLeader {
		term := n.rn.raft.term
		if l, ok := h.leaders[term]; ok && l != id {
			return true, fmt.Errorf("BUG: election safety: nodes %d and %d both lead term %d", l, id, term)
		}
		h.leaders[term] = id
	}
	n.rn.Advance()
	if c := n.rn.raft.trk.Config.String(); c != configBefore {
		// Configuration changes take effect when their Ready is advanced.
		fmt.Fprintf(b, "%d: config: %s\n", id, c)
	}
	return true, nil
}

func (h *harness) printReady(b *strings.Builder, id uint64, rd Ready) {
	sync := ""
	if rd.MustSync {
		sync = " (must sync)"
	}
	fmt.Fprintf(b, "%d: Ready%s\n", id, sync)
	if rd.SoftState != nil {
		fmt.Fprintf(b, "  soft: %s lead=%d\n", rd.RaftState, rd.Lead)
	}
	if hs := rd.HardState; hs != nil {
		fmt.Fprintf(b, "  hard: term=%d vote=%d commit=%d\n", hs.GetTerm(), hs.GetVote(), hs.GetCommit())
	}
	if s := rd.Snapshot; s != nil {
		fmt.Fprintf(b, "  snapshot: %s\n", fmtSnap(s))
	}
	if len(rd.Entries) > 0 {
		fmt.Fprintf(b, "  entries: %s\n", fmtEnts(rd.Entries))
	}
	if len(rd.MessagesBeforePersist) > 0 {
		b.WriteString("  send before persist:\n")
		for _, m := range rd.MessagesBeforePersist {
			fmt.Fprintf(b, "    %s\n", h.fmtMsg(m))
		}
	}
	if len(rd.MessagesAfterPersist) > 0 {
		b.WriteString("  send after persist:\n")
		for _, m := range rd.MessagesAfterPersist {
			fmt.Fprintf(b, "    %s\n", h.fmtMsg(m))
		}
	}
	if len(rd.CommittedEntries) > 0 {
		fmt.Fprintf(b, "  apply: %s\n", fmtEnts(rd.CommittedEntries))
	}
	for _, rs := range rd.ReadStates {
		name := h.readName(id, rs.ID)
		if rs.Dropped {
			fmt.Fprintf(b, "  read state: %s dropped\n", name)
		} else {
			fmt.Fprintf(b, "  read state: %s index=%d\n", name, rs.Index)
		}
	}
}

// cut reports why m cannot be delivered, or "".
func (h *harness) cut(m *raftpb.Message) string {
	if n := h.nodes[m.To]; n == nil {
		return fmt.Sprintf("no node %d", m.To)
	} else if n.rn == nil {
		return fmt.Sprintf("%d is down", m.To)
	}
	if h.group != nil && h.group[m.From] != h.group[m.To] {
		return "partitioned"
	}
	return ""
}

// deliver steps m into its recipient, or drops it if drop is set or the
// network cannot carry it. It describes the outcome in b; with verbose it
// also prints the delivered message and the state change it caused.
func (h *harness) deliver(b *strings.Builder, m *raftpb.Message, drop, verbose bool) {
	if drop {
		fmt.Fprintf(b, "dropped: %s\n", h.fmtMsg(m))
		return
	}
	if why := h.cut(m); why != "" {
		fmt.Fprintf(b, "dropped: %s (%s)\n", h.fmtMsg(m), why)
		return
	}
	h.counts[msgKind(m)]++
	before := h.summary(m.To)
	err := h.nodes[m.To].rn.Step(m)
	if verbose {
		fmt.Fprintf(b, "%s\n", h.fmtMsg(m))
		if d := diff(m.To, before, h.summary(m.To)); d != "" {
			fmt.Fprintf(b, "  %s\n", d)
		}
	}
	if err != nil {
		if !verbose {
			fmt.Fprintf(b, "%s\n", h.fmtMsg(m))
		}
		fmt.Fprintf(b, "  %d: step error: %v\n", m.To, err)
	}
}

// take removes and returns the queued messages that match keep.
func (h *harness) take(keep func(*raftpb.Message) bool) []*raftpb.Message {
	var out, rest []*raftpb.Message
	for _, m := range h.queue {
		if keep(m) {
			out = append(out, m)
		} else {
			rest = append(rest, m)
		}
	}
	h.queue = rest
	return out
}

// stabilize handles Readies and delivers messages among ids until nothing
// is left to do. Delivered messages are not printed again (the Ready that
// sent them shows them); drops and step errors are.
func (h *harness) stabilize(b *strings.Builder, ids []uint64) error {
	in := func(id uint64) bool { return slices.Contains(ids, id) }
	for range 10000 {
		busy := false
		for _, id := range ids {
			did, err := h.processReady(b, id)
			if err != nil {
				return err
			}
			busy = busy || did
		}
		msgs := h.take(func(m *raftpb.Message) bool { return in(m.From) && in(m.To) })
		var drops dropList
		for _, m := range msgs {
			busy = true
			if why := h.cut(m); why != "" {
				drops.add(fmt.Sprintf("%d->%d %s", m.From, m.To, m.Type), why)
				continue
			}
			h.deliver(b, m, false, false)
		}
		drops.print(b)
		if !busy {
			return nil
		}
	}
	return fmt.Errorf("BUG: stabilize: no quiescence after 10000 rounds")
}

// dropList gathers the messages one stabilize round dropped, so that a
// partition costs a line per reason rather than a line per message (the
// Ready that sent them printed them in full).
type dropList struct {
	reasons []string
	msgs    map[string][]string
	counts  map[string]int
}

func (d *dropList) add(msg, why string) {
	if d.msgs == nil {
		d.msgs, d.counts = map[string][]string{}, map[string]int{}
	}
	if _, ok := d.msgs[why]; !ok {
		d.reasons = append(d.reasons, why)
	}
	if d.counts[why+msg] == 0 {
		d.msgs[why] = append(d.msgs[why], msg)
	}
	d.counts[why+msg]++
}

func (d *dropList) print(b *strings.Builder) {
	for _, why := range d.reasons {
		var parts []string
		for _, msg := range d.msgs[why] {
			if n := d.counts[why+msg]; n > 1 {
				msg += fmt.Sprintf(" x%d", n)
			}
			parts = append(parts, msg)
		}
		fmt.Fprintf(b, "dropped (%s): %s\n", why, strings.Join(parts, ", "))
	}
}

func (h *harness) readName(node, id uint64) string {
	if s, ok := h.readNames[readKey{node, id}]; ok {
		return s
	}
	return strconv.FormatUint(id, 10)
}

// msgKind is the key counted by msg-counts: the type, and "reject" for
// refusals.
func msgKind(m *raftpb.Message) string {
	if m.Reject {
		return m.Type.String() + " reject"
	}
	return m.Type.String()
}

// fmtMsg prints a message with the fields its type uses.
func (h *harness) fmtMsg(m *raftpb.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %s", m.From, m.To, m.Type)
	if m.Term != 0 || !slices.Contains([]raftpb.MessageType{raftpb.MsgProp, raftpb.MsgReadIndex, raftpb.MsgTransferLeader}, m.Type) {
		fmt.Fprintf(&b, " term=%d", m.Term)
	}
	if m.Reject {
		b.WriteString(" reject")
	}
	switch m.Type {
	case raftpb.MsgApp:
		fmt.Fprintf(&b, " prev=%d@%d commit=%d", m.PrevLogIndex, m.PrevLogTerm, m.Commit)
		if len(m.Entries) > 0 {
			fmt.Fprintf(&b, " ents=[%s]", fmtEnts(m.Entries))
		}
	case raftpb.MsgAppResp:
		if m.Reject {
			fmt.Fprintf(&b, " rejected=%d hint=%d@%d", m.RejectedIndex, m.HintIndex, m.HintTerm)
			if m.NeedsSnapshot {
				b.WriteString(" needs_snapshot")
			}
		} else {
			fmt.Fprintf(&b, " match=%d", m.MatchIndex)
		}
	case raftpb.MsgVote, raftpb.MsgPreVote:
		fmt.Fprintf(&b, " last=%d@%d", m.LastLogIndex, m.LastLogTerm)
		if m.Transfer {
			b.WriteString(" transfer")
		}
	case raftpb.MsgProp:
		data := make([]string, len(m.Entries))
		for i, e := range m.Entries {
			if e.GetType() == raftpb.EntryConfChange {
				data[i] = fmtConfChange(e.GetData())
			} else {
				data[i] = strconv.Quote(string(e.GetData()))
			}
		}
		fmt.Fprintf(&b, " [%s]", strings.Join(data, " "))
	case raftpb.MsgHeartbeat:
		fmt.Fprintf(&b, " commit=%d seq=%d", m.Commit, m.HeartbeatSeq)
	case raftpb.MsgHeartbeatResp:
		fmt.Fprintf(&b, " seq=%d", m.HeartbeatSeq)
	case raftpb.MsgReadIndex:
		fmt.Fprintf(&b, " id=%s", h.readName(m.From, m.ReadId))
	case raftpb.MsgReadIndexResp:
		fmt.Fprintf(&b, " id=%s", h.readName(m.To, m.ReadId))
		if !m.Reject {
			fmt.Fprintf(&b, " index=%d", m.ReadIndex)
		}
	case raftpb.MsgSnap:
		fmt.Fprintf(&b, " snap=%s", fmtSnap(m.Snapshot))
	case raftpb.MsgTransferLeader:
		fmt.Fprintf(&b, " transferee=%d", m.Transferee)
	}
	return b.String()
}

// fmtSnap prints a snapshot's index, term and configuration; the sets other
// than voters only when not empty.
func fmtSnap(s *raftpb.Snapshot) string {
	md := s.GetMetadata()
	cs := md.GetConfState()
	out := fmt.Sprintf("%d@%d voters=%v", md.GetIndex(), md.GetTerm(), cs.GetVoters())
	for _, set := range []struct {
		name string
		ids  []uint64
	}{{"voters_outgoing", cs.GetVotersOutgoing()}, {"learners", cs.GetLearners()}, {"learners_next", cs.GetLearnersNext()}} {
		if len(set.ids) > 0 {
			out += fmt.Sprintf(" %s=%v", set.name, set.ids)
		}
	}
	if cs.GetAutoLeave() {
		out += " autoleave"
	}
	return out
}

func fmtEntry(e *raftpb.Entry) string {
	s := fmt.Sprintf("%d@%d", e.GetIndex(), e.GetTerm())
	if e.GetType() == raftpb.EntryConfChange {
		return s + " " + fmtConfChange(e.GetData())
	}
	if e.GetType() != raftpb.EntryNormal {
		s += " " + e.GetType().String()
	}
	if len(e.GetData()) > 0 {
		s += " " + strconv.Quote(string(e.GetData()))
	}
	return s
}

// confChangeLetters are the letters of propose-conf-change.
var confChangeLetters = map[raftpb.ConfChangeType]string{
	raftpb.ConfChangeAddNode: "v", raftpb.ConfChangeAddLearnerNode: "l", raftpb.ConfChangeRemoveNode: "r",
}

// confTransitions are the names of the transitions in transition=.
var confTransitions = map[string]raftpb.ConfChangeTransition{
	"auto":     raftpb.ConfChangeTransitionAuto,
	"implicit": raftpb.ConfChangeTransitionJointImplicit,
	"explicit": raftpb.ConfChangeTransitionJointExplicit,
}

// fmtConfChange prints encoded ConfChange data in the notation of
// propose-conf-change: conf(v4 l5 r2 [implicit|explicit]), conf(leave-joint).
func fmtConfChange(data []byte) string {
	cc, err := decodeConfChange(data)
	if err != nil {
		return fmt.Sprintf("conf(undecodable: %v)", err)
	}
	var parts []string
	for _, c := range cc.GetChanges() {
		parts = append(parts, fmt.Sprintf("%s%d", confChangeLetters[c.GetType()], c.GetNodeId()))
	}
	if len(parts) == 0 {
		parts = append(parts, "leave-joint")
	}
	for name, t := range confTransitions {
		if t == cc.GetTransition() && t != raftpb.ConfChangeTransitionAuto {
			parts = append(parts, name)
		}
	}
	return "conf(" + strings.Join(parts, " ") + ")"
}

// plain reports whether e prints as just index@term.
func plain(e *raftpb.Entry) bool {
	return e.GetType() == raftpb.EntryNormal && len(e.GetData()) == 0
}

// fmtEnts prints entries, folding runs of three or more plain entries of
// one term into a range: "3..22@2".
func fmtEnts(ents []*raftpb.Entry) string {
	var parts []string
	for i := 0; i < len(ents); {
		j := i + 1
		if plain(ents[i]) {
			for j < len(ents) && plain(ents[j]) && ents[j].GetTerm() == ents[i].GetTerm() &&
				ents[j].GetIndex() == ents[j-1].GetIndex()+1 {
				j++
			}
		}
		if j-i >= 3 {
			parts = append(parts, fmt.Sprintf("%d..%d@%d", ents[i].GetIndex(), ents[j-1].GetIndex(), ents[i].GetTerm()))
		} else {
			for k := i; k < j; k++ {
				parts = append(parts, fmtEntry(ents[k]))
			}
		}
		i = j
	}
	return strings.Join(parts, " ")
}

// storageEntries returns every entry held in st after its snapshot.
func storageEntries(st *MemoryStorage) []*raftpb.Entry {
	return st.ents[1:]
}

// logOf returns node n's whole log as the node sees it (stable and
// unstable) and the first unstable index, or its storage if it is down.
func logOf(n *hnode) (snapIndex, snapTerm uint64, ents []*raftpb.Entry, unstableFrom uint64) {
	if n.rn == nil {
		md := n.st.snapshot.GetMetadata()
		return md.GetIndex(), md.GetTerm(), storageEntries(n.st), 0
	}
	l := n.rn.raft.raftLog
	first, last := l.firstIndex(), l.lastIndex()
	snapTerm, _ = l.term(first - 1)
	ents, err := l.slice(first, last+1, 1<<62)
	if err != nil {
		panic(err)
	}
	if len(l.unstable.entries) > 0 {
		unstableFrom = l.unstable.offset
	}
	return first - 1, snapTerm, ents, unstableFrom
}

// The membership, leadership-transfer and snapshot commands live here, next
// to the network they drive, so that datadriven_test.go stays one screenful
// of commands per concern.

func (h *harness) proposeConfChange(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	cc := &raftpb.ConfChange{}
	if t, ok := a.kv["transition"]; ok {
		tr, ok := confTransitions[t[0]]
		if !ok {
			return fmt.Errorf("propose-conf-change: unknown transition %q", t[0])
		}
		cc.Transition = tr
	}
	for _, w := range a.words {
		var typ raftpb.ConfChangeType
		switch w[0] {
		case 'v':
			typ = raftpb.ConfChangeAddNode
		case 'l':
			typ = raftpb.ConfChangeAddLearnerNode
		case 'r':
			typ = raftpb.ConfChangeRemoveNode
		default:
			return fmt.Errorf("propose-conf-change: bad change %q, want v<id>, l<id> or r<id>", w)
		}
		id, err := strconv.ParseUint(w[1:], 10, 64)
		if err != nil {
			return fmt.Errorf("propose-conf-change: bad change %q: %w", w, err)
		}
		cc.Changes = append(cc.Changes, &raftpb.ConfChangeSingle{Type: typ, NodeId: id})
	}
	data, err := proto.Marshal(cc)
	if err != nil {
		return err
	}
	reportProposal(b, n, fmtConfChange(data), n.rn.ProposeConfChange(cc))
	return nil
}

func (h *harness) transferLeader(b *strings.Builder, a args) error {
	from, err := a.uint("from", 0)
	if err != nil {
		return err
	}
	to, err := a.uint("to", 0)
	if err != nil {
		return err
	}
	n, err := h.up(args{ids: []uint64{from}})
	if err != nil {
		return err
	}
	before := h.summary(n.id)
	if err := n.rn.TransferLeader(to); err != nil {
		fmt.Fprintf(b, "%d: transfer to %d: %v\n", n.id, to, err)
		return nil
	}
	if r := n.rn.raft; r.state == StateLeader && r.leadTransferee != None {
		fmt.Fprintf(b, "%d: transferring leadership to %d\n", n.id, r.leadTransferee)
	} else if r.state == StateLeader {
		fmt.Fprintf(b, "%d: no transfer under way\n", n.id)
	} else {
		fmt.Fprintf(b, "%d: transfer to %d forwarded to %d\n", n.id, to, r.lead)
	}
	if d := diff(n.id, before, h.summary(n.id)); d != "" {
		fmt.Fprintf(b, "%s\n", d)
	}
	return nil
}

func (h *harness) compact(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	if len(a.ids) != 2 {
		return fmt.Errorf("compact: want node ID and index")
	}
	index := a.ids[1]
	if index > n.applied {
		return fmt.Errorf("compact: index %d not applied (applied %d)", index, n.applied)
	}
	cs := n.rn.ConfState()
	if _, err := n.st.CreateSnapshot(index, cs, []byte(fmt.Sprintf("state@%d", index))); err != nil {
		return err
	}
	if err := n.st.Compact(index); err != nil {
		return err
	}
	h.printLog(b, n)
	return nil
}

func (h *harness) addNode(b *strings.Builder, a args) error {
	if len(a.ids) != 1 {
		return fmt.Errorf("add-node: want one node ID")
	}
	id := a.ids[0]
	if h.nodes[id] != nil {
		return fmt.Errorf("add-node: node %d exists", id)
	}
	c := h.cfg
	c.ID = id
	n := &hnode{id: id, st: NewMemoryStorage(), cfg: c}
	if err := h.start(n); err != nil {
		return err
	}
	h.nodes[id] = n
	h.ids = append(h.ids, id)
	slices.Sort(h.ids)
	if h.group != nil {
		// A new node joins the first side of a partition.
		h.group[id] = 0
	}
	h.printState(b, n)
	h.printConfig(b, n)
	return nil
}

func (h *harness) reportSnapshot(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	if len(a.ids) != 2 || len(a.words) != 1 || (a.words[0] != "ok" && a.words[0] != "fail") {
		return fmt.Errorf("report-snapshot: want from, to and ok or fail")
	}
	to := a.ids[1]
	n.rn.ReportSnapshot(to, a.words[0] == "ok")
	if pr := n.rn.raft.trk.Progress[to]; pr != nil && n.rn.raft.state == StateLeader {
		fmt.Fprintf(b, "%d: progress of %d: %s\n", n.id, to, pr)
	}
	return nil
}

// printConfig prints the configuration of a running node.
func (h *harness) printConfig(b *strings.Builder, n *hnode) {
	if n.rn != nil {
		fmt.Fprintf(b, "  config: %s\n", n.rn.raft.trk.Config.String())
	}
}

// printConfigs prints the configuration of the running nodes: one line if
// they all agree, else one line per distinct configuration naming its nodes.
func (h *harness) printConfigs(b *strings.Builder) {
	var configs []string
	holders := map[string][]string{}
	for _, id := range h.ids {
		n := h.nodes[id]
		if n.rn == nil {
			continue
		}
		c := n.rn.raft.trk.Config.String()
		if _, ok := holders[c]; !ok {
			configs = append(configs, c)
		}
		holders[c] = append(holders[c], strconv.FormatUint(id, 10))
	}
	if len(configs) == 1 {
		fmt.Fprintf(b, "config: %s\n", configs[0])
		return
	}
	for _, c := range configs {
		fmt.Fprintf(b, "config of %s: %s\n", strings.Join(holders[c], " "), c)
	}
}

func (h *harness) printLog(b *strings.Builder, n *hnode) {
	snapIndex, snapTerm, ents, unstableFrom := logOf(n)
	down := ""
	commit := n.st.hardState.GetCommit()
	if n.rn == nil {
		down = " (down)"
	} else {
		commit = n.rn.raft.raftLog.committed
	}
	fmt.Fprintf(b, "%d%s: log=[%s]", n.id, down, fmtEnts(ents))
	if snapIndex > 0 {
		fmt.Fprintf(b, " snap=%d@%d", snapIndex, snapTerm)
	}
	fmt.Fprintf(b, " commit=%d", commit)
	if n.rn != nil {
		fmt.Fprintf(b, " applied=%d", n.applied)
	}
	if unstableFrom > 0 {
		fmt.Fprintf(b, " unstable-from=%d", unstableFrom)
	}
	b.WriteString("\n")
}

func (h *harness) printState(b *strings.Builder, n *hnode) {
	last, lastTerm := n.st.lastIndex(), uint64(0)
	if n.rn == nil {
		lastTerm, _ = n.st.Term(last)
		hs := n.st.hardState
		fmt.Fprintf(b, "%d: down (persisted term=%d vote=%d commit=%d last=%d@%d)\n", n.id,
			hs.GetTerm(), hs.GetVote(), hs.GetCommit(), last, lastTerm)
		return
	}
	r := n.rn.raft
	fmt.Fprintf(b, "%d: %s term=%d vote=%d lead=%d commit=%d last=%d@%d\n", n.id, r.state, r.term, r.vote,
		r.lead, r.raftLog.committed, r.raftLog.lastIndex(), r.raftLog.lastTerm())
}
